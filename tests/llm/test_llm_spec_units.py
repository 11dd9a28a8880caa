"""The shipped medical specs' dosage patterns catch the units and spellings a user would
expect, in any script's digits, and leave ordinary numbers alone; stepping word by word
(as the shield does) finds the same doses as a search of the whole text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import speclang
from speclang.llm import TextMonitor, label_text
from speclang.llm.labels import match_need

ROOT = Path(__file__).resolve().parents[2]
CHATBOT = speclang.load(str(ROOT / "examples" / "chatbot.spec"))
MEDICAL = speclang.load(str(ROOT / "examples" / "llm" / "medical.spec"))

DOSES = [
    "Take 200 mg twice a day.", "Take 200mg now.", "Adults take 400 MG.", "Use 2.5ml.",
    "Give 2,5 ml.", "It is 1–2 grams a day.", "Up to 3 g daily.", "Take 1 gram.",
    "400-500 milligers (mg) is common.", "5 milligrams", "500 milligrammes",
    "Take 5 mcg.", "Take 5 µg.", "Take 5 μg.", "50 micrograms", "10 ml of syrup",
    "10 millilitres", "15 milliliters", "1000 IU of vitamin D", "1000 i.u. daily",
    "400 international units", "10 units of insulin", "two doses: 2 tablets", "1 tablet",
    "3 pills a day", "2 capsules", "1 caplet", "2 lozenges", "5 drops", "2 puffs",
    "2 sprays", "1 sachet", "1 patch", "2 teaspoons", "1 teaspoonful", "1 tsp", "2 tbsp",
    "1 tablespoon", "2 doses", "½ tablet", "1½ tablets", "a 200-mg tablet", "200\u00a0mg",
    # Arabic-Indic, Devanagari and fullwidth digits
    "Take \u0665 mg.", "Take \u0968\u0966\u0966 mg.", "Take \uff15\uff10 mg.",
    "Take \uff15\uff4d\uff47.", "Take 5 мг.", "2 таблетки", "5毫克", "每天2片", "Take 5 ㎎.",
    "500 miligramos", "2 comprimidos", "2 comprimés", "2 Tabletten", "0.5 kg",
    # what SmolLM2 wrote when the shield refused " mg" (benchmarks/llm_leak_rate.py)
    "400-500 milliecrops per kilogram", "4000 mcgs/day", "41.5 milliequivalent",
    "100 to 200 millimoles", "1.5 milli-milliliter", "500 milli-milligram (mg)",
    "2.5 liters of cough syrup", "200 mgs", "5 mls",
]
NOT_DOSES = [
    "5 million people take it.", "It lasts 2 gallons.", "A 5 millimeter cut heals.",
    "See a doctor at 3 pm.", "In 2020 the advice changed.", "Take it twice a day.",
    "Call 911.", "Drink 8 glasses of water.", "Rest for 2 days.", "Unit 5 of the course.",
    "I am 40 years old.", "The 2 gangs met.", "Dosage depends on your weight.",
    "It took 5 milliseconds.", "A 2 millimetre gap.", "3 millions of them.",
]


def dosage_pattern(module: object, prop: str = "dosage") -> re.Pattern[str]:
    return module.derived[prop].compiled  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [CHATBOT, MEDICAL], ids=["chatbot", "medical"])
def test_doses_are_caught_and_ordinary_numbers_are_not(module: object) -> None:
    pat = dosage_pattern(module)
    missed = [t for t in DOSES if not pat.search(t)]
    wrong = [t for t in NOT_DOSES if pat.search(t)]
    assert not missed and not wrong, (missed, wrong)


@pytest.mark.parametrize("text", DOSES)
def test_word_by_word_monitor_finds_every_dose(text: str) -> None:
    """The spec as monitored (one step per word, as the shield and `speclang chat` do)
    is violated by each dose without a disclaimer, and holds with one before it."""
    mon = TextMonitor.from_module(CHATBOT, "dosage_disclaimer", unit="word")
    assert label_text(mon, text).violated, text
    assert not label_text(mon, "I am not a doctor. " + text).violated, text
    med = TextMonitor.from_module(MEDICAL, "no_dosage", unit="word")
    assert label_text(med, text).violated, text


@pytest.mark.parametrize("text", NOT_DOSES)
def test_ordinary_numbers_do_not_violate(text: str) -> None:
    mon = TextMonitor.from_module(CHATBOT, "dosage_disclaimer", unit="word")
    assert not label_text(mon, text).violated, text


def test_mass_dose_is_only_mass() -> None:
    pat = dosage_pattern(MEDICAL, "mass_dose")
    assert all(pat.search(t) for t in ["200 mg", "1 gram", "5 µg", "5 мг", "5毫克",
                                       "400 milligers"])
    assert not any(pat.search(t) for t in ["2 tablets", "10 ml", "5 drops", "5 million",
                                           "10 millilitres", "2 liters"])


def test_the_shield_can_still_skip_text_without_digits() -> None:
    """A dose starts with a digit or a fraction: the shield's lazy rows (llm.triggers)
    need that first-character class, so text without one costs no monitor step."""
    for module in (CHATBOT, MEDICAL):
        need = match_need(dosage_pattern(module))
        assert need is not None and need.chars is not None
        assert need.chars.match("٥") and need.chars.match("½") and not need.chars.match("t")
