"""The JSON artifact: lossless round trips, and clear errors for tampered or broken files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_shaping_strategies import TableAutomaton, table_automata

from speclang.compiler import artifact, shaping
from speclang.compiler.artifact import ArtifactError
from speclang.compiler.automaton import Automaton

UNTIL = Automaton.from_table(
    ["a", "b"],
    [[0, 2, 1, 2], [1, 1, 1, 1], [2, 2, 2, 2]],
    [False, True, False],
    residuals=["!a U b", "true", "false"],
    name="until",
    formula="!a U b",
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table_automata(max_states=5, max_props=3), st.lists(st.integers(0, 7), max_size=15))
def test_round_trip_steps_like_the_table(
    tmp_path: Path, t: TableAutomaton, letters: list[int]
) -> None:
    path = tmp_path / "a.json"
    artifact.save(t.aut, path)
    loaded = artifact.load(path)
    assert loaded.props == t.aut.props
    assert loaded.residuals == t.aut.residuals
    assert loaded.name == "random"
    np.testing.assert_array_equal(loaded.accepting, t.accepting)
    np.testing.assert_array_equal(loaded.verdicts, t.aut.verdicts)
    assert loaded.delta is not None
    np.testing.assert_array_equal(loaded.delta, t.aut.delta)
    q_table = q_symbolic = q_dense = loaded.initial
    width = len(t.props)
    for x in letters:
        x %= 1 << width
        bits = np.array([(x >> i) & 1 for i in range(width)], dtype=bool)
        q_table = int(t.table[q_table, x])
        q_symbolic = loaded.step(q_symbolic, bits)
        q_dense = int(loaded.step_batch(np.array([q_dense]), bits[None, :])[0])
        assert q_table == q_symbolic == q_dense
    for kind in shaping.KINDS:
        np.testing.assert_allclose(loaded.meta["potentials"][kind], shaping.potentials(t.aut, kind))
    # Saving what was loaded gives the same file, byte for byte.
    again = tmp_path / "b.json"
    artifact.save(loaded, again)
    assert again.read_text() == path.read_text()


def test_document_fields_and_guards() -> None:
    doc = artifact.to_json(UNTIL)
    assert doc["format"] == "speclang-dfa" and doc["version"] == 1
    assert doc["propositions"] == ["a", "b"]
    assert [s["verdict"] for s in doc["states"]] == [
        "presumably_violated",
        "satisfied",
        "violated",
    ]
    assert doc["states"][0]["residual"] == "!a U b"
    targets = {e["to"] for e in doc["states"][0]["edges"]}
    assert targets == {0, 1, 2}
    assert doc["letter_classes"]["count"] == 3
    assert doc["checksum"].startswith("sha256:")
    # The guard of each edge must hold exactly on the letters the table sends there, both
    # minimised and as raw cubes (the form used for large automata).
    table = [[0, 2, 1, 2], [1, 1, 1, 1], [2, 2, 2, 2]]
    for q, state in enumerate(doc["states"]):
        raw = artifact.edges(UNTIL, q, minimise=False)
        listed = [(e["to"], e["guard"]) for e in state["edges"]]
        assert [t for t, _ in raw] == [t for t, _ in listed]
        for target, guard in listed + raw:
            for x in range(4):
                env = {"a": bool(x & 1), "b": bool(x & 2)}
                assert _eval_guard(guard, env) == (table[q][x] == target)


def _eval_guard(text: str, env: dict[str, bool]) -> bool:
    """A tiny independent evaluator for the guard syntax (! & | parentheses true false)."""
    tokens = text.replace("(", " ( ").replace(")", " ) ").replace("!", " ! ").split()
    pos = 0

    def atom() -> bool:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "!":
            return not atom()
        if tok == "(":
            value = disj()
            pos += 1
            return value
        return {"true": True, "false": False}.get(tok, env.get(tok, False))

    def conj() -> bool:
        nonlocal pos
        value = atom()
        while pos < len(tokens) and tokens[pos] == "&":
            pos += 1
            value = atom() and value
        return value

    def disj() -> bool:
        nonlocal pos
        value = conj()
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            value = conj() or value
        return value

    return disj()


def test_schema_is_valid_and_accepts_saved_files() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(artifact.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(artifact.to_json(UNTIL), schema)


def _tampered(tmp_path: Path, change: Any, *, fix_checksum: bool = True) -> Path:
    doc = artifact.to_json(UNTIL)
    change(doc)
    if fix_checksum:
        doc["checksum"] = artifact.checksum(doc)
    path = tmp_path / "artifact.json"
    path.write_text(json.dumps(doc))
    return path


def _set(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("states/1/verdict", "maybe", "states[1].verdict: 'maybe' is not one of"),
        ("states/0/verdict", "violated", "states[0].verdict: 'violated' contradicts"),
        ("initial", 7, "initial"),
        ("decision_diagram/lo/1", 99, "decision_diagram.lo[1]"),
        ("letter_classes/delta/0/1", 0, "letter_classes.delta[0][1]: 0 disagrees"),
        ("letter_classes/delta/2/1", 9, "letter_classes.delta[2][1]: 9 is not a state"),
        ("letter_classes/delta/1/0", "x", "letter_classes.delta[1]"),
        ("decision_diagram/var/0", 0.5, "decision_diagram.var"),
        ("states/0/edges", [{"to": 0, "guard": "true"}], "states[0].edges: targets [0]"),
        ("propositions", ["b", "a"], "propositions"),
        ("potentials/progress", [0.5, 2.0, 0.0], "potentials.progress"),
        ("format", "other", "format: 'other' is not a speclang-dfa artifact"),
        ("version", 2, "version: unsupported version 2"),
    ],
)
def test_tampered_files_are_rejected_naming_the_field(
    tmp_path: Path, path: str, value: Any, expected: str
) -> None:
    bad = _tampered(tmp_path, _set(path, value))
    with pytest.raises(ArtifactError) as info:
        artifact.load(bad)
    assert str(info.value).startswith(f"{bad}: ")
    assert expected in str(info.value)


def test_unordered_diagram_is_rejected(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        dd = doc["decision_diagram"]
        inner = [k for k, v in enumerate(dd["var"]) if v >= 0]
        parent = next(
            k for k in inner if dd["var"][dd["hi"][k]] >= 0 or dd["var"][dd["lo"][k]] >= 0
        )
        child = dd["hi"][parent] if dd["var"][dd["hi"][parent]] >= 0 else dd["lo"][parent]
        dd["var"][child] = dd["var"][parent]  # a child testing the same proposition

    bad = _tampered(tmp_path, change)
    with pytest.raises(ArtifactError, match="not ordered"):
        artifact.load(bad)


def test_edit_without_new_checksum_is_detected(tmp_path: Path) -> None:
    bad = _tampered(tmp_path, _set("states/0/residual", "F b"), fix_checksum=False)
    with pytest.raises(ArtifactError, match=r"checksum: does not match"):
        artifact.load(bad)


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format": "speclang-dfa",\n  "version": 1,,\n}')
    with pytest.raises(ArtifactError, match=r"broken.json:3:\d+: invalid JSON"):
        artifact.load(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read"):
        artifact.load(tmp_path / "nope.json")


def test_own_checks_run_without_jsonschema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import now raises ImportError
    bad = _tampered(tmp_path, _set("states", "three states"))
    with pytest.raises(ArtifactError, match=r"states: expected a non-empty list"):
        artifact.load(bad)
    bad = _tampered(tmp_path, _set("states/1/verdict", "maybe"))
    with pytest.raises(ArtifactError, match=r"states\[1\].verdict: 'maybe' is not one of"):
        artifact.load(bad)
    bad = _tampered(tmp_path, _set("letter_classes/delta/1/0", "x"))
    with pytest.raises(ArtifactError, match=r"delta\[1\]: expected a list of integers"):
        artifact.load(bad)
    bad = _tampered(tmp_path, _set("decision_diagram/roots", [0, 1]))
    with pytest.raises(ArtifactError, match=r"decision_diagram.roots: has 2 entries, expected 3"):
        artifact.load(bad)


def test_loader_never_unpickles(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "evil.json"
    path.write_bytes(pickle.dumps({"format": "speclang-dfa"}))
    with pytest.raises(ArtifactError):
        artifact.load(path)


def test_automaton_without_letter_classes_round_trips(tmp_path: Path) -> None:
    aut = Automaton.from_table(["a"], [[1, 0], [1, 1]], [False, True], letter_classes=False)
    path = artifact.save(aut, tmp_path / "x.json")
    loaded = artifact.load(path)
    assert json.loads(path.read_text())["letter_classes"] is None
    assert loaded.run([{"a"}, set()]) == aut.run([{"a"}, set()]) == [0, 1]
    # the loader builds the classes from the diagram when they are first read
    assert not loaded.letter_classes_built
    assert loaded.delta is not None and loaded.delta.tolist() == [[1, 0], [1, 1]]


def test_classify_packed_matches_bool_classify() -> None:
    rng = np.random.default_rng(1)
    aut = Automaton.from_table(
        ["a", "b", "c"], rng.integers(0, 3, size=(3, 8)), [True, False, True]
    )
    vals = rng.integers(0, 2, size=(50, 3)).astype(bool)
    packed = (vals * (1 << np.arange(3))).sum(axis=1).astype(np.uint64)
    np.testing.assert_array_equal(aut.classify_packed(packed), aut.classify(vals))


def test_classify_packed_over_64_props_uses_words() -> None:
    # Class 1 iff proposition 66 (bit 2 of the second word) is true.
    props = tuple(f"p{i:03d}" for i in range(70))
    aut = Automaton(
        props=props,
        accepting=np.array([True]),
        verdicts=np.array([0], dtype=np.int8),
        residuals=("true",),
        dd_var=np.array([-1], dtype=np.int32),
        dd_lo=np.array([0], dtype=np.int32),
        dd_hi=np.array([0], dtype=np.int32),
        roots=np.array([0], dtype=np.int32),
        class_dd_var=np.array([66, -1, -1], dtype=np.int32),
        class_dd_lo=np.array([1, 0, 1], dtype=np.int32),
        class_dd_hi=np.array([2, 0, 0], dtype=np.int32),
        delta=np.zeros((1, 2), dtype=np.int32),
    )
    words = np.array([[0, 0], [0, 4], [2**63, 3]], dtype=np.uint64)
    np.testing.assert_array_equal(aut.classify_packed(words), [0, 1, 0])


def test_save_refuses_potentials_that_load_would_reject(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"potentials\['progress'\] must be 3 numbers in \[0, 1\]"):
        artifact.save(UNTIL, tmp_path / "x.json", potentials={"progress": np.array([0, 2, 1])})
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ValueError, match="unknown potential kind"):
        artifact.to_json(UNTIL, potentials={"distance": np.zeros(3)})


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_save_respects_the_umask(tmp_path: Path, umask: int) -> None:
    import os

    old = os.umask(umask)
    try:
        out = artifact.save(UNTIL, tmp_path / "x.json")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert artifact.load(out).n_states == UNTIL.n_states


def test_large_automata_are_written_without_guards_and_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above WRITE_GUARDS_UP_TO edges the per-edge guards (the one part of a file that grows
    with edges, not with the diagram) are left out; the file still steps like the table."""
    monkeypatch.setattr(artifact, "WRITE_GUARDS_UP_TO", 2)  # UNTIL has 5 edges
    doc = artifact.to_json(UNTIL)
    assert all("edges" not in s for s in doc["states"])
    assert all("edges" in s for s in artifact.to_json(UNTIL, guards=True)["states"])
    monkeypatch.setattr(artifact, "WRITE_GUARDS_UP_TO", 20_000)
    assert all("edges" not in s for s in artifact.to_json(UNTIL, guards=False)["states"])
    path = artifact.save(UNTIL, tmp_path / "u.json", guards=False)
    loaded = artifact.load(path)
    letters = [set(), {"a"}, {"b"}, {"a", "b"}]
    assert [[loaded.step(q, x) for x in letters] for q in range(3)] == [
        [UNTIL.step(q, x) for x in letters] for q in range(3)
    ]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(artifact.SCHEMA_PATH.read_text()))


def test_edges_listed_for_some_states_only_is_rejected(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        del doc["states"][1]["edges"]

    bad = _tampered(tmp_path, change)
    with pytest.raises(ArtifactError, match=r"states\[1\]\.edges: missing here"):
        artifact.load(bad)
