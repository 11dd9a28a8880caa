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
    return code, err


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


def _imports(tmp_path: Path, target: str) -> Path:
    p = tmp_path / "proj" / "main.spec"
    p.parent.mkdir(exist_ok=True)
    p.write_text(f'import "{target}"\nprops a\nspec s {{ G a }}\n')
    return p


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ"])
def test_import_of_a_system_file_echoes_nothing(tmp_path: Path, target: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists(target):
        pytest.skip(f"{target} absent")
    with open(target, "rb") as fh:
        first = fh.read(200).split(b"\n")[0].split(b"\0")[0].decode("latin-1")
    code, out = _check(_imports(tmp_path, target), capsys)
    assert code == 1 and "error[E016]: cannot import" in out
    assert "only .spec files" in out
    if len(first) >= 6:
        assert first not in out


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "outside", "symlink_out", "large"])
def test_import_is_a_bounded_regular_file_in_the_project(
        tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    secret = tmp_path / "secret.spec"
    secret.write_text("props TOPSECRET_VALUE\n")
    target = "x.spec"
    if kind == "dev_zero":
        (proj / "x.spec").symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(proj / "x.spec")
    elif kind == "outside":
        target = "../secret.spec"
    elif kind == "symlink_out":
        (proj / "x.spec").symlink_to(secret)
    else:
        (proj / "x.spec").write_text("props " + ", ".join(f"p{i}" for i in range(60_000)))
    start = time.perf_counter()
    code, out = _check(_imports(tmp_path, target), capsys)
    assert time.perf_counter() - start < 10  # the FIFO does not hang, /dev/zero ends
    assert code == 1 and "error[E016]: cannot import" in out, out
    assert "TOPSECRET" not in out
    why = {"dev_zero": "outside the project directory", "fifo": "not a regular file",
           "outside": "outside the project directory",
           "symlink_out": "outside the project directory", "large": "larger than"}[kind]
    assert why in out


def test_import_path_with_a_nul_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "main.spec"
    p.write_text('import "a\\u0000b.spec"\nprops a\n'.replace("\\u0000", "\0"))
    code, out = _check(p, capsys)
    assert code == 1
    assert "error[E0" in out


def test_import_path_with_a_nul_escape(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from speclang.analysis import Program

    p = tmp_path / "main.spec"
    p.write_text('props a\n')
    prog = Program()
    prog.load_path(str(p))
    from speclang import syntax as S
    from speclang.diagnostics import Span

    imp = S.Import("a\0b.spec", span=Span(str(p), 1, 1, 1, 2))
    assert prog._import(prog.root, imp, []) is None
    assert "NUL byte" in prog.diagnostics[-1].message


def test_a_chain_of_500_imports_is_a_clear_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(500):
        (tmp_path / f"f{i}.spec").write_text(f'import "f{i + 1}.spec"\nprops p{i}\n')
    (tmp_path / "f500.spec").write_text("props last\n")
    code, out = _check(tmp_path / "f0.spec", capsys)
    assert code == 1 and "nest more than 64 files deep" in out
