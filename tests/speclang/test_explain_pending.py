"""`speclang explain` on a trace that ends *presumably violated*: it names the obligation
still owed at the end and a continuation that would discharge it."""

from __future__ import annotations

import json
from pathlib import Path

from spec_cases import spec_and_trace

from speclang.cli import main
from speclang.explain import explain_trace

SPEC = """\
observe temp: float
props a, b, goal
prop hot = temp > 30

spec answer { G(a -> F goal) & G !b }
spec cool_down { G(hot -> F !hot) }
"""


def _files(tmp_path: Path, *lines: str) -> tuple[str, str]:
    return spec_and_trace(tmp_path, SPEC, *lines, name="p.spec")


def test_text_names_the_owed_conjunct_and_what_discharges_it(tmp_path, capsys):
    spec, trace = _files(tmp_path, '["a"]', "[]")
    assert main(["explain", spec, "--spec", "answer", "--trace", trace]) == 0
    out = capsys.readouterr().out
    assert "spec answer: no definite violation, but presumably_violated after 2 steps" in out
    assert (
        f"{spec}:5:15: note[pending]: `G(a -> F goal)` of spec answer is still owed at the end "
        "of the trace (step 2)" in out
    )
    assert "5 | spec answer { G(a -> F goal) & G !b }" in out
    assert "= owed: remaining obligation `" in out
    # Discharging must respect the other conjunct too (G !b).
    assert "= to discharge: one more step where `!b & goal` holds would discharge it" in out
    assert "`G !b` of spec answer is still owed" not in out


def test_json_pending_with_an_observable_trace(tmp_path, capsys):
    spec, trace = _files(tmp_path, '{"temp": 20}', '{"temp": 35}')
    args = ["explain", spec, "--spec", "cool_down", "--trace", trace, "--format", "json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["final_verdict"] == "presumably_violated"
    assert doc["violation"] is None
    pending = doc["pending"]
    assert pending["step"] == 2
    (owed,) = pending["conjuncts"]
    assert owed["text"] == "G(hot -> F !hot)"
    assert owed["span"]["line"] == 6
    assert pending["discharge"] == ["!hot"]
    assert "one more step where `!hot` holds" in pending["summary"]


def test_several_steps_to_discharge():
    e = explain_trace("F(a & X b)", [frozenset()])
    assert e.final_verdict == "presumably_violated"
    assert e.pending is not None
    assert e.pending.discharge == ("a", "b")
    assert "2 more steps would discharge it, for example `a`, then `b`" in e.render()


def test_no_pending_when_accepted_or_violated():
    assert explain_trace("F a", [frozenset({"a"})]).pending is None
    violated = explain_trace("G !a", [frozenset({"a"})])
    assert violated.cause is not None and violated.pending is None
    assert explain_trace("F a", [frozenset({"a"})]).to_json()["pending"] is None
