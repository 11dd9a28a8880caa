"""``speclang fmt``: round trip ``parse(fmt(x)) == x`` and idempotence on generated ASTs,
comments kept, ``--check`` / ``--write`` behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speclang import syntax as S
from speclang.cli import main
from speclang.formatter import format_file, format_formula
from speclang.parser import parse_formula_text, parse_text

ROOT = Path(__file__).resolve().parents[2]

_names = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s not in S.KEYWORDS),
    st.sampled_from(["door open", "next", 'say "hi"', "a\\b", "Lava"]),
)


def _formulas(max_leaves: int = 12) -> st.SearchStrategy[S.Formula]:
    leaves = st.one_of(
        st.builds(S.Const, st.sampled_from(["true", "false", "last", "end", "first"])),
        st.builds(S.Name, _names),
    )

    def extend(inner: st.SearchStrategy[S.Formula]) -> st.SearchStrategy[S.Formula]:
        return st.one_of(
            st.builds(S.Unary, st.sampled_from(S.UNARY_OPS), inner),
            st.builds(lambda n, f: S.Bounded("NEXT", n, n, f), st.integers(0, 5), inner),
            st.builds(lambda n, f: S.Bounded("WNEXT", n, n, f), st.integers(0, 5), inner),
            st.builds(S.Bounded, st.sampled_from(["EVENTUALLY", "ALWAYS"]),
                      st.integers(0, 9), st.one_of(st.none(), st.integers(0, 9)), inner),
            st.builds(S.Binary, st.sampled_from(S.BINARY_OPS), inner, inner),
            st.builds(S.NAry, st.sampled_from(["AND", "OR"]),
                      st.lists(inner, min_size=2, max_size=4).map(tuple)),
            st.builds(S.Call, st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
                      .filter(lambda s: s not in S.KEYWORDS),
                      st.lists(inner, min_size=1, max_size=3).map(tuple)),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


@settings(max_examples=200, deadline=None)
@given(_formulas(), st.booleans())
def test_parse_of_formatted_formula_is_the_formula(f: S.Formula, weak: bool) -> None:
    text = format_formula(f, weak_next=weak)
    parsed, diags = parse_formula_text(text, weak_next=weak)
    assert not diags, (text, diags)
    assert parsed == f, text
    assert format_formula(parsed, weak_next=weak) == text  # type: ignore[arg-type]


_idents = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in S.KEYWORDS)


def _decls() -> st.SearchStrategy[S.Decl]:
    ident = st.builds(S.Ident, _idents)
    literal = st.one_of(
        st.builds(S.Literal, st.just("number"),
                  st.sampled_from(["30", "-2", "0.5", "1e3", "7.25"])),
        st.builds(S.Literal, st.just("symbol"), _idents),
        st.builds(S.Literal, st.just("bool"), st.sampled_from(["true", "false"])),
    )
    obs_type = st.one_of(
        st.builds(S.ObsType, st.sampled_from(["float", "int", "bool", "flaot"])),
        st.builds(lambda vs: S.ObsType("enum", tuple(vs)), st.lists(ident, min_size=1,
                                                                   max_size=3)),
    )
    return st.one_of(
        st.builds(S.Import, st.sampled_from(["common.spec", "dir/x y.spec", 'q"uote.spec'])),
        st.builds(lambda ns: S.PropsDecl(tuple(ns)),
                  st.lists(st.builds(S.Ident, _names), min_size=1, max_size=4)),
        st.builds(lambda os_: S.ObserveDecl(tuple(os_)),
                  st.lists(st.builds(S.Observable, ident, obs_type), min_size=1, max_size=3)),
        st.builds(S.DerivedDecl, ident, ident,
                  st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), literal),
        st.builds(S.DefDecl, ident,
                  st.one_of(st.none(), st.lists(ident, min_size=1, max_size=3).map(tuple)),
                  _formulas(8)),
        st.builds(S.SpecDecl, ident, st.one_of(st.none(), st.text(max_size=20)),
                  _formulas(20)),
        st.builds(lambda n, ss: S.ProgressionDecl(n, tuple(ss)), ident,
                  st.lists(ident, min_size=1, max_size=4)),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(_decls(), max_size=6), st.booleans(), st.randoms(use_true_random=False))
def test_file_round_trip_and_idempotence(decls: list[S.Decl], weak: bool, rnd) -> None:  # noqa: ANN001
    pragma = "#pragma next = weak\n" if weak else ""
    f = S.SourceFile(tuple(decls), weak_next=weak)
    text = pragma + format_file(f, "")
    # Sprinkle comments and blank lines into the canonical text: fmt must keep them.
    lines = text.split("\n")
    for _ in range(rnd.randint(0, 4)):
        i = rnd.randint(0, len(lines) - 1)
        lines.insert(i, rnd.choice(["# note", "", "// other  ", "  # indented"]))
    if lines and lines[-1] == "" and len(lines) > 1 and rnd.random() < 0.5:
        lines[-2] += "  # trailing"
    messy = "\n".join(lines)
    res = parse_text(messy, "x.spec", weak_next=False)
    assert res.file is not None, (messy, res.diagnostics)
    assert res.file == f
    once = format_file(res.file, messy)
    again = parse_text(once, "x.spec")
    assert again.file == f
    assert format_file(again.file, once) == once  # type: ignore[arg-type]
    for c in res.file.comments:
        assert c.text.strip() in once


def test_formatting_is_canonical() -> None:
    src = (
        "props a,b ,c  # the props\n"
        "\n\n"
        "spec  s{always(a implies next b)and(c until b)&&X[!]a}\n"
        "def t(x)=x||~ x\n"
    )
    res = parse_text(src, "x.spec")
    assert res.file is not None
    assert format_file(res.file, src) == (
        "props a, b, c  # the props\n"
        "\n"
        "spec s { G(a -> X b) & c U b & X a }\n"
        "def t(x) = x | !x\n"
    )


def test_fmt_keeps_minimal_parentheses() -> None:
    for text in ["(a U b) U c", "a U b U c", "(a -> b) -> c", "a & (b & c)", "(a & b) & c",
                 "!(a & b)", "G(a | b)", "F G !a", "a <-> b <-> c", "a <-> (b <-> c)",
                 "X[3](a U b)", "F[2,] a", "G[1,4] !a", "(a | b) & c", "a ^ b ^ c"]:
        parsed, diags = parse_formula_text(text)
        assert not diags and parsed is not None
        assert format_formula(parsed) == text


def test_examples_are_formatted(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.spec"))
    assert main(["fmt", "--check", *files]) == 0, capsys.readouterr().out


def test_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.spec"
    p.write_text("props a\nspec s {G a}\n")
    assert main(["fmt", "--check", str(p)]) == 1
    assert f"{p}: not formatted" in capsys.readouterr().out
    assert main(["fmt", str(p)]) == 0
    assert capsys.readouterr().out == "props a\nspec s { G a }\n"
    assert p.read_text() == "props a\nspec s {G a}\n"  # stdout mode leaves the file alone
    assert main(["fmt", "--write", str(p)]) == 0
    assert p.read_text() == "props a\nspec s { G a }\n"
    assert main(["fmt", "--check", str(p)]) == 0


def test_fmt_reports_syntax_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.spec"
    p.write_text("spec s { a & }\n")
    assert main(["fmt", str(p)]) == 1
    assert f"{p}:1:14: error[E001]: unexpected \"}}\"; expected a formula" in \
        capsys.readouterr().out


def test_weak_next_file_keeps_its_meaning() -> None:
    src = "#pragma next = weak\nprops a\nspec s { X a & X[!] a & WX a }\n"
    res = parse_text(src, "x.spec")
    assert res.file is not None
    out = format_file(res.file, src)
    assert out == "#pragma next = weak\nprops a\nspec s { WX a & X[!] a & WX a }\n"


def _unformatted(tmp_path: Path) -> Path:
    p = tmp_path / "x.spec"
    p.write_text("props a, b\n" + "".join(f"spec s{i} {{G(a->F b)}}\n" for i in range(40)))
    return p


def test_write_on_a_full_disk_keeps_the_source(tmp_path: Path) -> None:
    """A write that runs out of space (RLIMIT_FSIZE gives EFBIG like ENOSPC) leaves the
    original file whole, no temporary file behind, and a clear error rather than exit 3."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    p = _unformatted(tmp_path)
    before = p.read_bytes()

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "speclang", "fmt", "--write", str(p)],
                          capture_output=True, text=True, preexec_fn=small_disk, env=env,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"cannot write {p}" in proc.stderr and "unchanged" in proc.stderr
    assert "internal error" not in proc.stderr
    assert p.read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x.spec"]


def test_write_refuses_a_read_only_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    p = _unformatted(tmp_path)
    before = p.read_bytes()
    p.chmod(0o444)
    assert main(["fmt", "--write", str(p)]) == 1
    assert "read-only" in capsys.readouterr().err
    assert p.read_bytes() == before


def test_write_keeps_the_file_mode(tmp_path: Path) -> None:
    p = _unformatted(tmp_path)
    p.chmod(0o640)
    assert main(["fmt", "--write", str(p)]) == 0
    assert p.stat().st_mode & 0o777 == 0o640
    assert "spec s0 { G(a -> F b) }" in p.read_text()
