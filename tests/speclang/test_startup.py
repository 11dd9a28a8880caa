"""Start-up of ``speclang check`` (issue 17): lark's parse tables come from a cache file that
survives a damaged or unwritable cache, and checking a file imports no numpy (nor `regex`,
without patterns)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from speclang import grammar

ROOT = Path(__file__).resolve().parents[2]
TEXT = 'props a, b\nspec s "x" { G(a -> X[2] b) & F[1,3] a }\ndef d(p) = p U b\n'


@pytest.fixture(scope="module")
def reference() -> object:
    return grammar.build_parser(keep_all_tokens=True).parse(TEXT, start="start")


def _cached(cache: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("SPECLANG_CACHE", str(cache))
    return grammar.build_parser(cache=True, keep_all_tokens=True)


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "grammar").glob("*.cache"))


def test_the_tables_are_written_once_and_then_read(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   reference: object) -> None:
    first = _cached(tmp_path, monkeypatch)
    [written] = _cache_files(tmp_path)
    assert hasattr(first, "grammar")  # built from the grammar text
    second = _cached(tmp_path, monkeypatch)
    assert not hasattr(second, "grammar")  # loaded from the file
    assert first.parse(TEXT, start="start") == reference
    assert second.parse(TEXT, start="start") == reference
    assert _cache_files(tmp_path) == [written]


def test_another_grammar_gets_another_cache_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Two checkouts or installs of different speclang versions share ~/.cache/speclang:
    # with one file name each run of one rebuilt the tables the other had just written.
    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    ours = grammar._cache_file()
    real = grammar.grammar_text
    monkeypatch.setattr(grammar, "grammar_text",
                        lambda name: real(name) + ("//\n" if name == "formula.lark" else ""))
    other = grammar._cache_file()
    assert isinstance(ours, str) and isinstance(other, str)
    assert ours != other and Path(ours).parent == Path(other).parent


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    reference: object, damage: str) -> None:
    _cached(tmp_path, monkeypatch)
    [path] = _cache_files(tmp_path)
    good = path.read_bytes()
    bad = {"garbage": b"\x00not a cache\n" * 50, "truncated": good[: len(good) // 2],
           "empty": b""}[damage]
    path.write_bytes(bad)
    parser = _cached(tmp_path, monkeypatch)
    assert parser.parse(TEXT, start="start") == reference
    assert path.read_bytes() != bad
    again = _cached(tmp_path, monkeypatch)
    assert not hasattr(again, "grammar")  # written again, and read the next time
    assert again.parse(TEXT, start="start") == reference


def test_no_cache_folder_or_an_unwritable_cache_still_parses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: object) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert _cached(blocker, monkeypatch).parse(TEXT, start="start") == reference
    # the cache file's name taken by a folder: it can be neither read nor written (as root,
    # permission bits would not stop the write)
    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path / "c"))
    target = grammar._cache_file()
    assert isinstance(target, str)
    os.makedirs(target)
    for _ in range(2):
        assert _cached(tmp_path / "c", monkeypatch).parse(TEXT, start="start") == reference


DRIVER = """
import sys
from speclang.cli import main
code = main(["check", sys.argv[1]])
print(sorted(m for m in sys.modules if m.split(".")[0] in {"numpy", "torch", "scipy", "regex"}))
sys.exit(code)
"""


def test_check_imports_no_numpy(tmp_path: Path) -> None:
    # nor `regex`, which lark would import for an option speclang does not use
    # (speclang.grammar), and which a file without patterns does not need
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPECLANG_CACHE=str(tmp_path / "cache"))
    for _ in range(2):  # the first run writes the grammar cache, the second reads it
        out = subprocess.run([sys.executable, "-c", DRIVER, "examples/door_key.spec"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "door_key.spec: ok" in out.stderr
        assert json.loads(out.stdout.replace("'", '"')) == []
    assert _cache_files(tmp_path / "cache")


def test_as_a_program_the_quick_commands_still_write_and_exit_as_before(tmp_path: Path) -> None:
    # speclang.cli.main skips the shutdown collections for check/compile/...: what they
    # print and write, and their exit codes, must be those of a normal exit
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPECLANG_CACHE=str(tmp_path / "cache"))
    out = tmp_path / "m.json"
    run = subprocess.run([sys.executable, "-m", "speclang", "compile", "-f", "G(a -> F b)",
                          "-o", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "2 states" in run.stdout
    from speclang.compiler import artifact

    assert artifact.load(out).n_states == 2
    bad = tmp_path / "bad.spec"
    bad.write_text("props a\nspec s { G(a -> ) }\n")
    run = subprocess.run([sys.executable, "-m", "speclang", "check", str(bad)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "bad.spec:2:" in run.stderr


def test_main_called_in_a_process_leaves_its_garbage_collector_alone() -> None:
    import gc

    from speclang.cli import main

    before = gc.get_freeze_count()
    assert main(["check", str(ROOT / "examples" / "door_key.spec")]) == 0
    assert gc.get_freeze_count() == before
