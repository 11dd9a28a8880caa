"""`speclang explain` reads traces exactly as `speclang monitor` does: observable values,
derived propositions (`prop hot = temp > 30`) and text propositions (`reply matches /.../`)."""

from __future__ import annotations

import json
from pathlib import Path

from spec_cases import spec_and_trace

from speclang.cli import main

SPEC = """\
observe temp: float
observe reply: text
props alarm
prop hot = temp > 30
prop rude = reply matches /\\bdamn\\b/i

spec cool { G(hot -> X alarm) & G !rude }
"""


def _files(tmp_path: Path, *lines: str) -> tuple[str, str]:
    return spec_and_trace(tmp_path, SPEC, *lines, name="obs.spec")


def _monitor_verdicts(capsys, spec: str, trace: str) -> list[str]:
    assert main(["monitor", spec, "--trace", trace]) == 0
    return [json.loads(x)["verdict"] for x in capsys.readouterr().out.splitlines()]


def _explain(capsys, spec: str, trace: str) -> dict:
    assert main(["explain", spec, "--trace", trace, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_derived_proposition_from_observable_values(tmp_path, capsys):
    spec, trace = _files(
        tmp_path, '{"temp": 20.0}', '{"temp": 35.5}', '{"temp": 21, "alarm": false}'
    )
    verdicts = _monitor_verdicts(capsys, spec, trace)
    doc = _explain(capsys, spec, trace)
    assert [s["verdict"] for s in doc["steps"]] == verdicts
    assert verdicts[-1] == "violated"
    assert doc["steps"][1]["letter"] == ["hot"]  # derived from temp = 35.5
    assert doc["violation"]["step"] == 3
    assert "`alarm` did not hold at step 3" in doc["violation"]["conjuncts"][0]["reason"]


def test_text_proposition_from_a_reply(tmp_path, capsys):
    spec, trace = _files(
        tmp_path, '{"reply": "hello there"}', '{"reply": "well, Damn it", "temp": 10}'
    )
    verdicts = _monitor_verdicts(capsys, spec, trace)
    doc = _explain(capsys, spec, trace)
    assert [s["verdict"] for s in doc["steps"]] == verdicts == ["presumably_satisfied", "violated"]
    assert doc["steps"][1]["letter"] == ["rude"]
    assert doc["violation"]["conjuncts"][0]["text"] == "G !rude"


def test_stdin_and_text_output(tmp_path, capsys, monkeypatch):
    import io

    spec, _ = _files(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO('{"temp": 40}\n{"temp": 40}\n'))
    assert main(["explain", spec, "--trace", "-"]) == 0
    out = capsys.readouterr().out
    assert "step 2 violates `G(hot -> X alarm)`" in out


def test_bad_observable_value_is_the_same_clear_error(tmp_path, capsys):
    spec, trace = _files(tmp_path, '{"temp": "warm"}')
    assert main(["monitor", spec, "--trace", trace]) == 1
    monitor_err = capsys.readouterr().err
    assert main(["explain", spec, "--trace", trace]) == 1
    err = capsys.readouterr().err
    assert err == monitor_err
    assert 'observable "temp" must be a float' in err
    assert "Traceback" not in err
