"""The compiler's entry points on checked modules and IR, and the facade's on text and files."""

from __future__ import annotations

from pathlib import Path

import pytest

import speclang
from speclang import compile_file, compile_formula
from speclang.compiler import compile_spec, product
from speclang.compiler.automaton import Verdict

SPEC = """\
props lava, wood, bench

spec safe "never lava" { G !lava }
spec crafted "wood, then a bench" { F(bench & O wood) }
"""


def test_compile_spec_names_and_hashes_the_automaton() -> None:
    module = speclang.loads(SPEC, "craft.spec")
    aut = compile_spec(module, "safe")
    assert aut.name == "safe"
    assert aut.source_hash == module.source_hash
    assert aut.props == ("lava",)
    assert aut.run([set(), {"lava"}]) == [0, 1]
    assert aut.verdict(1) is Verdict.VIOLATED


def test_compile_spec_unknown_name_lists_the_specs() -> None:
    module = speclang.loads(SPEC, "craft.spec")
    with pytest.raises(KeyError, match="safe, crafted"):
        compile_spec(module, "nope")


def test_compile_file_compiles_every_spec_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "craft.spec"
    path.write_text(SPEC)
    auts = compile_file(path)
    assert isinstance(auts, dict) and list(auts) == ["safe", "crafted"]
    crafted = auts["crafted"]
    q = crafted.initial
    verdicts = []
    for letter in [{"bench"}, {"wood"}, set(), {"bench"}]:
        q = crafted.step(q, letter)
        verdicts.append(crafted.verdict(q))
    assert verdicts[-1] is Verdict.SATISFIED
    assert Verdict.SATISFIED not in verdicts[:-1]
    single = compile_file(path, spec="safe")
    assert not isinstance(single, dict) and single.name == "safe"


def test_bad_formula_text_raises_spec_errors() -> None:
    with pytest.raises(speclang.SpecErrors):
        compile_formula("G (a &")


def test_compiler_takes_ir_and_names_the_facade_for_text() -> None:
    from speclang import compiler

    with pytest.raises(TypeError, match=r"speclang\.compile_formula"):
        compiler.compile_formula("G a")  # type: ignore[arg-type]
    f = speclang.parse_formula("G (a -> X b)")
    assert compiler.compile_formula(f).n_states == compile_formula("G (a -> X b)").n_states
    assert not hasattr(compiler, "compile_file")


def test_product_of_specs_keeps_names() -> None:
    module = speclang.loads(SPEC, "craft.spec")
    mon = product([compile_spec(module, "safe"), compile_spec(module, "crafted")])
    assert mon.part_names == ["safe", "crafted"]
    q = mon.step(mon.initial, {"lava"})
    assert mon.part_verdicts(q)[0] is Verdict.VIOLATED
    assert mon.verdict(q) is Verdict.VIOLATED


def test_product_stays_callable_after_use() -> None:
    # compiler.product is a function; its implementation module must not shadow it.
    from speclang import compiler

    first = compiler.product([compile_formula("G a")])
    second = compiler.product([compile_formula("F b")])
    assert callable(compiler.product)
    assert first.n_states == 2 and second.n_states == 2
