"""Residual texts of a compositional build, and of any build with past operators, are
written when first read (automaton.defer_residuals): the same texts as written at once, one
write however many readers, a hand-set value wins, and an automaton not yet read pickles
with its texts."""

from __future__ import annotations

import pickle
import threading

import speclang
from speclang.compiler import compose
from speclang.compiler.budget import Budget
from speclang.compiler.build import build_automaton

# 2**10 + 1 states: composed (the parts multiply past compose.PAYS_FROM)
GFAND = " & ".join(["G p1", *[f"F p{i}" for i in range(2, 12)]])


def _composed() -> speclang.Automaton:
    aut = build_automaton(speclang.parse_formula(GFAND), Budget(), compose=True)
    assert aut.meta.get("parts") == 11
    return aut


def test_written_on_first_read_as_written_at_once(monkeypatch: object) -> None:
    calls = []
    original = compose.state_texts

    def counting(*args: object) -> list[str]:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(compose, "state_texts", counting)  # type: ignore[attr-defined]
    aut = _composed()
    assert calls == []
    texts = aut.residuals
    assert len(texts) == aut.n_states and calls == [1]
    assert aut.residuals is texts and calls == [1]
    assert texts[0] == aut.formula
    assert texts[aut.violation_sink] == "false"
    # the monolithic construction's texts mean the same (test_compose checks every state's);
    # here the wording of the states the two write alike
    whole = build_automaton(speclang.parse_formula(GFAND), Budget(), compose=False)
    same = sum(a == b for a, b in zip(texts, whole.residuals, strict=True))
    assert same >= 2


def test_one_write_for_concurrent_readers(monkeypatch: object) -> None:
    calls = []
    original = compose.state_texts

    def slow(*args: object) -> list[str]:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(compose, "state_texts", slow)  # type: ignore[attr-defined]
    aut = _composed()
    seen: list[tuple[str, ...]] = []
    readers = [threading.Thread(target=lambda: seen.append(aut.residuals)) for _ in range(4)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert calls == [1] and all(s is seen[0] for s in seen)


def test_set_by_hand_wins() -> None:
    aut = _composed()
    aut.residuals = tuple(f"q{q}" for q in range(aut.n_states))
    assert aut.residuals[5] == "q5"


def test_pickled_before_read() -> None:
    aut = _composed()
    again = pickle.loads(pickle.dumps(aut))
    assert again.residuals == aut.residuals


def test_past_texts_written_on_first_read_as_at_once(monkeypatch: object) -> None:
    """A monolithic build with past operators leaves its texts (which fold in what each
    state remembers) to the first read too, and writes what _minimal writes at once."""
    from speclang.compiler import build, memory

    calls = []
    original = memory.state_text

    def counting(*args: object) -> str:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(memory, "state_text", counting)  # type: ignore[attr-defined]
    for text in ("H(p1 -> O q1) & H(p2 -> Y q2) & H(p3 -> O q3)",
                 "G(lava -> O(bench & O wood))", "X !O O a", "(a S b) & F c"):
        f = speclang.parse_formula(text)
        aut = build_automaton(f, Budget(), compose=False)
        assert calls == [], text
        texts = aut.residuals
        assert calls, text
        assert list(texts) == build._minimal(f, Budget())[2], text
        assert pickle.loads(pickle.dumps(build_automaton(f, Budget()))).residuals == texts
        calls.clear()
