"""`speclang compile` and `speclang monitor`, run in-process through the CLI entry point."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import speclang
from speclang.cli import main
from speclang.compiler import artifact, reference

SPEC = """\
props lava, goal, key

spec no_hazard "never step into lava" {
  G !lava
}

spec reach "get the key, then the goal" {
  G !lava & F (key & F goal)
}
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "lava.spec"
    path.write_text(SPEC)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_formula_prints_one_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "compile", "-f", "F a")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "F a: 2 states, 2 letter classes, verdicts: 1 satisfied, 0 presumably_satisfied, "
        "1 presumably_violated, 0 violated ("
    )
    assert lines[0].endswith(" ms)")


def test_compile_file_writes_one_artifact_per_spec(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "compile", str(spec_file), "-o", str(out_dir))
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == ["no_hazard", "reach"]
    assert "no_hazard: 2 states" in out
    loaded = artifact.load(out_dir / "reach.json")
    assert loaded.name == "reach"
    assert loaded.source_hash
    trace = [{"key"}, set(), {"goal"}]
    assert bool(loaded.accepting[loaded.run(trace)[-1]])
    assert not loaded.accepting[loaded.run([{"key"}, {"lava"}, {"goal"}])[-1]]


def test_compile_one_spec_to_one_file(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "no_hazard.json"
    code, out, _ = _run(capsys, "compile", str(spec_file), "--spec", "no_hazard", "-o", str(target))
    assert code == 0
    assert out.startswith("no_hazard: 2 states")
    assert artifact.load(target).n_states == 2


def test_trailing_slash_means_a_directory(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    code, out, _ = _run(
        capsys, "compile", str(spec_file), "--spec", "reach", "-o", f"{tmp_path}/arts/"
    )
    assert code == 0
    assert artifact.load(tmp_path / "arts" / "reach.json").name == "reach"


def test_several_specs_need_a_directory(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "compile", str(spec_file), "-o", str(tmp_path / "x.json"))
    assert code == 2
    assert "must name a directory" in err


def test_unknown_spec_suggests_the_closest(
    capsys: pytest.CaptureFixture[str], spec_file: Path
) -> None:
    code, _, err = _run(capsys, "compile", str(spec_file), "--spec", "rech")
    assert code == 1
    assert "no spec named 'rech'" in err and 'did you mean "reach"?' in err


def test_syntax_error_prints_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.spec"
    bad.write_text("props a\nspec x { G (a -> }\n")
    code, out, err = _run(capsys, "compile", str(bad))
    assert code == 1
    assert out == ""
    assert f"{bad}:2:18: error[" in err
    assert "Traceback" not in err


def test_formula_syntax_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "compile", "-f", "G (a ->")
    assert code == 1
    assert "<formula>:1:" in err


@pytest.mark.parametrize(
    "argv",
    [["compile"], ["compile", "x.spec", "-f", "a"], ["compile", "-f", "a", "--spec", "s"]],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert "error:" in err


def test_budget_exceeded_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "compile", "-f", "G(a -> F[0,10] b)", "--max-states", "3")
    assert code == 1
    assert "max_states" in err
    assert "Traceback" not in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "compile", str(tmp_path / "nope.spec"))
    assert code == 1
    assert "no such file" in err


# --- monitor -------------------------------------------------------------------------------


def _trace_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _records(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_monitor_prints_one_record_per_step(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    trace = _trace_file(tmp_path, ['["key"]', "", '{"goal": true, "lava": false}', '["lava"]'])
    code, out, err = _run(
        capsys, "monitor", str(spec_file), "--spec", "reach", "--trace", str(trace)
    )
    assert code == 0, err
    records = _records(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["verdict"] for r in records] == [
        "presumably_violated",
        "presumably_satisfied",
        "violated",
    ]
    assert [r["accepting"] for r in records] == [False, True, False]
    assert set(records[0]) == {"step", "state", "verdict", "accepting"}


def test_monitor_unknown_proposition(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    trace = _trace_file(tmp_path, ['["key"]', "[]", "", "[]", "[]", "[]", '["lavaa"]'])
    code, out, err = _run(
        capsys, "monitor", str(spec_file), "--spec", "no_hazard", "--trace", str(trace)
    )
    assert code == 1
    assert out == ""  # nothing is printed for a trace that is rejected
    assert err.strip() == f'{trace}:7: error: unknown proposition "lavaa" (did you mean "lava"?)'


def test_monitor_accepts_declared_but_unused_propositions(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    trace = _trace_file(tmp_path, ['["key", "goal"]'])
    code, out, _ = _run(
        capsys, "monitor", str(spec_file), "--spec", "no_hazard", "--trace", str(trace)
    )
    assert code == 0
    assert _records(out)[0]["verdict"] == "presumably_satisfied"


def test_monitor_malformed_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trace = _trace_file(tmp_path, ["[]", '["a"'])
    code, _, err = _run(capsys, "monitor", "-f", "G !a", "--trace", str(trace))
    assert code == 1
    assert f"{trace}:2: error: invalid JSON" in err


def test_monitor_needs_a_spec_choice(
    capsys: pytest.CaptureFixture[str], spec_file: Path, tmp_path: Path
) -> None:
    trace = _trace_file(tmp_path, ["[]"])
    code, _, err = _run(capsys, "monitor", str(spec_file), "--trace", str(trace))
    assert code == 2
    assert "--spec" in err


def test_monitor_from_artifact_matches_formula_and_reads_stdin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art = tmp_path / "m.json"
    assert _run(capsys, "compile", "-f", "a U b", "-o", str(art))[0] == 0
    lines = ['["a"]', '["a"]', '["b"]', "[]"]
    trace = _trace_file(tmp_path, lines)
    _, direct, _ = _run(capsys, "monitor", "-f", "a U b", "--trace", str(trace))
    _, saved, _ = _run(capsys, "monitor", "--artifact", str(art), "--trace", str(trace))
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    _, piped, _ = _run(capsys, "monitor", "--artifact", str(art), "--trace", "-")
    assert direct == saved == piped
    assert artifact.load(art).source_hash == hashlib.sha256(b"a U b").hexdigest()
    assert [r["accepting"] for r in _records(direct)] == [False, False, True, True]


def test_monitor_rejects_tampered_artifact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    art = tmp_path / "m.json"
    _run(capsys, "compile", "-f", "G !a", "-o", str(art))
    doc = json.loads(art.read_text())
    doc["states"][0]["verdict"] = "violated"
    art.write_text(json.dumps(doc))
    code, _, err = _run(capsys, "monitor", "--artifact", str(art), "--trace", str(art))
    assert code == 1
    assert f"{art}: states[0].verdict" in err


FORMULAS = [
    "G(a -> X b)",
    "a U (b & F c)",
    "G(b -> O a)",
    "F(a & WX false)",
    "!(F a & F b)",
    "G(a -> F[0,2] b)",
    "H(a -> Y b)",
    "b S a",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(FORMULAS),
    st.lists(st.sets(st.sampled_from(["a", "b", "c"])), min_size=1, max_size=7),
)
def test_monitor_acceptance_agrees_with_the_reference_semantics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, steps: list[set[str]]
) -> None:
    formula = speclang.parse_formula(text)
    trace = _trace_file(tmp_path, [json.dumps(sorted(s)) for s in steps])
    # A free formula declares no alphabet: names it does not use are ignored with a warning,
    # unless --props declares the alphabet, which makes any other name an error.
    props = {p for s in steps for p in s}
    known = set(speclang.compile_formula(formula).props)
    if not props <= known:
        code, _, err = _run(
            capsys, "monitor", "-f", text, "--props", ",".join(sorted(known)) or "none",
            "--trace", str(trace),
        )
        assert code == 1 and "unknown proposition" in err
    code, out, err = _run(capsys, "monitor", "-f", text, "--trace", str(trace))
    assert code == 0, err
    for name in props - known:
        assert f'"{name}", which the formula does not use; it is ignored' in err
    for t, record in enumerate(_records(out), start=1):
        expected = reference.evaluate(formula, steps[:t])
        assert record["accepting"] == expected
        assert (record["verdict"] in ("satisfied", "presumably_satisfied")) == expected


def test_monitor_evaluates_derived_propositions_from_observables(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "ammo.spec"
    spec.write_text(
        "observe ammo: int\nprops shoot\nprop empty = ammo <= 0\n"
        'spec save_ammo "no shooting with an empty gun" { G(empty -> !shoot) }\n'
    )
    trace = _trace_file(
        tmp_path,
        ['{"ammo": 2, "shoot": true}', '{"ammo": 0}', '{"ammo": 0, "shoot": true}'],
    )
    code, out, err = _run(capsys, "monitor", str(spec), "--trace", str(trace))
    assert code == 0, err
    assert [r["verdict"] for r in _records(out)] == [
        "presumably_satisfied",
        "presumably_satisfied",
        "violated",
    ]
    bad = _trace_file(tmp_path, ['{"ammo": "none"}'])
    code, _, err = _run(capsys, "monitor", str(spec), "--trace", str(bad))
    assert code == 1
    assert 'observable "ammo" must be an int' in err


def test_guards_flag_chooses_whether_edges_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifact, "WRITE_GUARDS_UP_TO", 1)  # so a 3-state automaton is "large"
    states = {}
    for flag in ("", "--guards", "--no-guards"):
        out = tmp_path / f"a{flag}.json"
        code, _, err = _run(capsys, "compile", "-f", "a U b", "-o", str(out), *filter(None, [flag]))
        assert code == 0, err
        states[flag] = json.loads(out.read_text())["states"]
        assert artifact.load(out).n_states == len(states[flag])
    assert not any("edges" in s for s in states[""] + states["--no-guards"])
    assert all("edges" in s for s in states["--guards"])


def test_guards_help_states_the_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"at most {artifact.WRITE_GUARDS_UP_TO:,} edges" in help_text


def test_letter_classes_flag_chooses_whether_the_table_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifact, "WRITE_CLASSES_UP_TO", 2)  # so a 3-state table is "large"
    docs = {}
    for flag in ("", "--letter-classes", "--no-letter-classes"):
        out = tmp_path / f"a{flag}.json"
        code, _, err = _run(capsys, "compile", "-f", "a U b", "-o", str(out),
                            *filter(None, [flag]))
        assert code == 0, err
        docs[flag] = json.loads(out.read_text())["letter_classes"]
        loaded = artifact.load(out)
        assert loaded.n_classes == 3  # read from the file, or built from the diagram
    assert docs[""] is None and docs["--no-letter-classes"] is None
    assert docs["--letter-classes"]["count"] == 3


def test_letter_classes_help_states_the_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"at most {artifact.WRITE_CLASSES_UP_TO:,} entries" in help_text
