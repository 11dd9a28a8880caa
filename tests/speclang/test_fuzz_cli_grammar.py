"""The grammar-based fuzzer through the command line: files and formulas drawn from
grammars/spec.lark and grammars/formula.lark (hypothesis ``from_lark``, weighted as in
test_fuzz.py) go in-process through ``speclang.cli.main`` with the CLI fuzz driver's checks
(``check``, then ``compile`` with small budgets on what checks, or ``compile -f``): no exit
3 ("internal error"), no traceback, no exception escaping ``main``. This is the fast CI
profile; benchmarks/fuzz_cli.py is the long run of the cheaper generators."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from test_fuzz import _FUZZ, _from_grammar

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_cli.py"
_spec = importlib.util.spec_from_file_location("fuzz_cli", SCRIPT)
assert _spec and _spec.loader
fuzz_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz_cli)

# ~50 ms to draw an example plus a CLI round trip: 40 each keeps this file a few seconds in
# CI; the long run sets SPECLANG_FUZZ_EXAMPLES (docs/testing.md).
_CLI_FUZZ = settings(_FUZZ, max_examples=int(os.environ.get("SPECLANG_FUZZ_EXAMPLES", "40")))


def _run_file(tmp: Path, text: str) -> str | None:
    path = tmp / "fuzz_case.spec"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    # a fixed seed: compile follows check on about a third of the files that check
    return fuzz_cli.run_one(path, random.Random(len(text)), Counter())


def _run_formula(text: str) -> str | None:
    argv = ["compile", "-f", text, "--max-states", "2000", "--timeout", "2"]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = fuzz_cli.main(argv)
    except BaseException as exc:  # noqa: BLE001 - what the fuzzer is looking for
        return f"compile -f: {type(exc).__name__}: {exc}"
    output = out.getvalue() + err.getvalue()
    if rc == 3 or "Traceback" in output:
        return f"compile -f: exit {rc}: {output[-500:]}"
    return None


@_CLI_FUZZ
@given(_from_grammar("start"))
def test_grammar_generated_files_through_the_cli(tmp_path_factory, text: str) -> None:
    problem = _run_file(tmp_path_factory.mktemp("fuzz"), text)
    assert problem is None, (problem, text)


@_CLI_FUZZ
@given(_from_grammar("formula_start"))
def test_grammar_generated_formulas_through_the_cli(text: str) -> None:
    problem = _run_formula(text)
    assert problem is None, (problem, text)


def test_the_checks_catch_an_internal_error(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    def internal_error(argv: list[str]) -> int:
        print("internal error: Traceback ...")
        return 3

    monkeypatch.setattr(fuzz_cli, "main", internal_error)
    assert "exit 3" in (_run_file(tmp_path, "props a\nspec s { a }\n") or "")
    assert "exit 3" in (_run_formula("a") or "")
