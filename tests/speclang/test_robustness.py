"""Hostile input through the CLI: always diagnostics and exit code 1 (or 0), never an
internal error (exit 3) or a traceback."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from speclang.cli import main


def _check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["check", *extra, str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out


def test_binary_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "garbage.spec"
    p.write_bytes(bytes(range(256)) * 8 + os.urandom(2048))
    code, out = _check(p, capsys)
    assert code == 1 and "error[E00" in out


def test_valid_utf8_control_characters(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "ctl.spec"
    p.write_text("props a\nspec s { G a \x00\x07 }\n")
    code, out = _check(p, capsys)
    assert code == 1
    assert f"{p}:2:14: error[E001]: unexpected character \"\\x00\"" in out


def test_invalid_utf8_names_byte_and_position(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "latin1.spec"
    p.write_bytes("props caf\u00e9\n".encode("latin-1"))
    code, out = _check(p, capsys)
    assert code == 1
    assert "error[E002]: file is not valid UTF-8 text (byte 0xe9 at line 1, col 10)" in out


def test_ten_megabyte_file_is_refused_quickly(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "big.spec"
    line = b"props " + b", ".join(b"p%d" % i for i in range(200)) + b"\n"
    p.write_bytes(line * (10_000_000 // len(line) + 1))
    start = time.perf_counter()
    code, out = _check(p, capsys)
    assert time.perf_counter() - start < 10
    assert code == 1 and "error[E004]: file is too large" in out


def test_ten_thousand_nested_parentheses(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "deep.spec"
    p.write_text("props a\nspec s { " + "(" * 10_000 + "a" + ")" * 10_000 + " }\n")
    code, out = _check(p, capsys)
    assert code == 1 and "error[E003]: formula nested too deeply (limit 256)" in out


def test_deep_nesting_just_under_the_limit_works(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "ok.spec"
    p.write_text("props a\nspec s { " + "!" * 254 + "a }\n")
    code, out = _check(p, capsys)
    assert code == 0, out


def test_long_definition_chain_lowers_without_recursion_error(tmp_path: Path) -> None:
    import speclang

    lines = ["props a", "def d0 = a"] + [f"def d{i} = X d{i - 1}" for i in range(1, 600)]
    lines.append("spec s { d599 }")
    p = tmp_path / "chain.spec"
    p.write_text("\n".join(lines) + "\n")
    m = speclang.load(str(p))
    f = m.specs["s"].formula
    for _ in range(599):
        assert f.op.name == "NEXT"
        f = f.args[0]
    assert f.name == "a"


def test_empty_and_comment_only_files_are_valid(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.spec"
    empty.write_bytes(b"")
    comments = tmp_path / "comments.spec"
    comments.write_text("# nothing here\n// nor here\n")
    for p in (empty, comments):
        code, out = _check(p, capsys)
        assert (code, out) == (0, f"{p}: ok\n")


def test_missing_file_on_command_line(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(tmp_path / "nope.spec", capsys)
    assert code == 1
    assert out.startswith(f"error[E005]: cannot read {tmp_path / 'nope.spec'}: ")


def test_directory_instead_of_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(tmp_path, capsys)
    assert code == 1 and "error[E005]" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert main(["check", "--format", "xml", "x.spec"]) == 2
    assert main(["fmt", "a.spec", "b.spec"]) == 2
    capsys.readouterr()


def test_errors_in_imported_file_are_reported_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lib.spec").write_text("props a\ndef bad = a & zz\n")
    main_spec = tmp_path / "main.spec"
    main_spec.write_text('import "lib.spec"\nspec s { G a }\n')
    code, out = _check(main_spec, capsys)
    assert code == 1
    assert f"{tmp_path / 'lib.spec'}:2:15: error[E010]: undeclared proposition \"zz\"" in out


def test_import_conflict_is_a_duplicate(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lib.spec").write_text("props a\n")
    p = tmp_path / "main.spec"
    p.write_text('import "lib.spec"\nprops a\nspec s { G a }\n')
    code, out = _check(p, capsys)
    assert code == 1
    assert f'{p}:2:7: error[E012]: duplicate declaration of "a"' in out
    assert f"first declared at {tmp_path / 'lib.spec'}:1:7" in out


def test_diamond_import_is_not_a_conflict(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "base.spec").write_text("props a\n")
    (tmp_path / "l.spec").write_text('import "base.spec"\ndef left = G a\n')
    (tmp_path / "r.spec").write_text('import "base.spec"\ndef right = F a\n')
    p = tmp_path / "main.spec"
    p.write_text('import "l.spec"\nimport "r.spec"\nspec s { left & right }\n')
    code, out = _check(p, capsys)
    assert (code, out) == (0, f"{p}: ok\n")
