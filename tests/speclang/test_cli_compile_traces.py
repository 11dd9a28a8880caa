"""The JSONL trace reader shared by ``speclang monitor`` and ``speclang explain``."""

from __future__ import annotations

from pathlib import Path

import pytest

from speclang.traces import TraceError, iter_trace, read_observations, read_trace

PROPS = {"lava", "goal", "key"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text(text)
    return path


def test_arrays_and_objects_with_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, '["key"]\n\n{"lava": false, "goal": true}\n[]\n   \n{"key": true}\n')
    assert read_trace(path, PROPS) == [
        frozenset({"key"}),
        frozenset({"goal"}),
        frozenset(),
        frozenset({"key"}),
    ]


def test_unknown_proposition_names_the_line_and_suggests(tmp_path: Path) -> None:
    path = _write(tmp_path, '["key"]\n\n["lavaa"]\n')
    with pytest.raises(TraceError) as info:
        read_trace(path, PROPS)
    assert str(info.value) == f'{path}:3: error: unknown proposition "lavaa" (did you mean "lava"?)'
    assert info.value.line == 3


def test_unknown_key_in_object_even_when_false(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"door": false}\n')
    with pytest.raises(TraceError, match=r":1: error: unknown proposition \"door\"$"):
        read_trace(path, PROPS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["key",', "invalid JSON at column"),
        ('{"key": 1}', 'proposition "key" must be true or false, got 1'),
        ('["key", 3]', "expected proposition names, got 3"),
        ('"key"', "expected a JSON array of true propositions or an object"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, '["goal"]\n' + line + "\n")
    with pytest.raises(TraceError) as info:
        read_trace(path, PROPS)
    assert str(info.value).startswith(f"{path}:2: error: ")
    assert message in str(info.value)


def test_any_names_when_props_is_none() -> None:
    steps = list(iter_trace(['["x", "y"]', "", '{"z": true}'], None))
    assert steps == [(1, frozenset({"x", "y"})), (3, frozenset({"z"}))]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace(tmp_path / "missing.jsonl", PROPS)


class _Obs:
    def __init__(self, kind: str, values: tuple[str, ...] = ()) -> None:
        self.kind, self.values = kind, values


OBSERVABLES = {"health": _Obs("float"), "ammo": _Obs("int"), "mode": _Obs("enum", ("a", "b"))}


def test_observable_values_are_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"health": 25.5, "ammo": 0, "key": true}\n["goal"]\n{"mode": "b"}\n')
    assert read_observations(path, PROPS, OBSERVABLES) == [
        (frozenset({"key"}), {"health": 25.5, "ammo": 0}),
        (frozenset({"goal"}), {}),
        (frozenset(), {"mode": "b"}),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"ammo": 2.5}', 'observable "ammo" must be an int, got 2.5'),
        ('{"health": true}', 'observable "health" must be a float, got true'),
        ('{"mode": "c"}', 'observable "mode" must be one of a, b, got "c"'),
        ('{"helth": 3}', 'unknown proposition "helth" (did you mean "health"?)'),
    ],
)
def test_bad_observable_values(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, line + "\n")
    with pytest.raises(TraceError) as info:
        read_observations(path, PROPS, OBSERVABLES)
    assert str(info.value) == f"{path}:1: error: {message}"
