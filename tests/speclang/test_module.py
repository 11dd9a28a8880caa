"""The lowered ``Module`` API that the compiler, runtime and agents code against, checked on
the shipped examples; spec meanings are checked with the independent reference evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest

import speclang
from speclang.compiler import ir, reference
from speclang.compiler.ir import And, Atom, Implies, Not, Or

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.spec"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_check_cleanly(path: Path) -> None:
    module = speclang.load(str(path))
    assert module.warnings == []
    for prog in module.progressions.values():
        assert all(name in module.specs for name in prog)


def test_minecraft_module() -> None:
    m = speclang.load(str(ROOT / "examples" / "minecraft.spec"))
    assert m.props == ["lava", "creeper", "wood", "iron", "work_bench", "smith_table",
                       "diamond"]
    assert m.progressions == {"minecraft": ["t1", "t2", "t3", "t4"]}
    assert list(m.specs) == ["t1", "t2", "t3", "t4", "find_diamond"]
    lava, creeper, wood = Atom("lava"), Atom("creeper"), Atom("wood")
    assert m.specs["t1"].formula is ir.Always(And(Not(lava), Not(creeper)))
    t3 = m.specs["t3"]
    bench = ir.Once(And(Atom("work_bench"), ir.Once(wood)))
    assert t3.formula is And(ir.Always(Not(creeper)), ir.Always(Implies(lava, bench)))
    assert [c.text for c in t3.conjuncts] == ["G !creeper", "G(lava -> bench_route)"]
    assert t3.conjuncts[1].formula is ir.Always(Implies(lava, bench))
    assert t3.description == "lava only after wood and then a work bench; never creepers"
    assert (t3.span.line, t3.span.col) == (25, 1)


def _holds(spec: speclang.SpecDef, trace: list[set[str]]) -> bool:
    return reference.evaluate(spec.formula, trace)


def test_minecraft_t4_routes() -> None:
    t4 = speclang.load(str(ROOT / "examples" / "minecraft.spec")).specs["t4"]
    assert _holds(t4, [set(), {"wood"}, set()])
    assert not _holds(t4, [{"wood"}, {"lava"}])  # no route completed yet
    assert not _holds(t4, [{"wood"}, {"creeper"}])
    assert _holds(t4, [{"wood"}, {"work_bench"}, {"lava"}])  # bench route: lava ok
    assert not _holds(t4, [{"wood"}, {"work_bench"}, {"creeper"}])  # creepers are not
    assert not _holds(t4, [{"work_bench"}, {"wood"}, {"lava"}])  # bench before wood
    assert _holds(t4, [{"wood"}, {"iron"}, {"smith_table"}, {"creeper"}])  # smith route
    assert not _holds(t4, [{"wood"}, {"iron"}, {"smith_table"}, {"lava"}])
    assert not _holds(t4, [{"iron"}, {"wood"}, {"smith_table"}, {"creeper"}])  # iron first
    both = [{"wood"}, {"work_bench"}, {"iron"}, {"smith_table"}, {"lava"}, {"creeper"}]
    assert _holds(t4, both)


def test_minecraft_t2_forbids_what_t1_forbids_but_tracks_wood() -> None:
    specs = speclang.load(str(ROOT / "examples" / "minecraft.spec")).specs
    t1, t2 = specs["t1"], specs["t2"]
    no_wood = [set(), {"iron"}]
    with_wood = [set(), {"wood"}, set()]
    hazard = [{"wood"}, {"lava"}]
    props = ["lava", "creeper", "wood"]
    for trace in (no_wood, with_wood, hazard):
        v1 = reference.verdict(t1.formula, trace, props, 3)
        v2 = reference.verdict(t2.formula, trace, props, 3)
        assert (v1 == "violated") == (v2 == "violated")
    assert _holds(t2, with_wood) and not _holds(t2, no_wood) and _holds(t1, no_wood)


def test_derived_propositions_and_observables() -> None:
    m = speclang.load(str(ROOT / "examples" / "door_key.spec"))
    assert m.observables["front"] == speclang.ObservableType(
        "enum", ("empty", "wall", "door", "key", "goal", "lava"))
    assert m.derived["has_key"] == speclang.Comparison("carrying", "==", "key")
    assert m.derived["has_key"].evaluate("key") and not m.derived["has_key"].evaluate("ball")
    s = speclang.load(str(ROOT / "examples" / "shooter.spec"))
    assert s.observables["health"].kind == "float" and s.observables["ammo"].kind == "int"
    low = s.derived["low_health"]
    assert (low.observable, low.op, low.value) == ("health", "<", 30)
    assert low.evaluate(29.5) and not low.evaluate(30.0)
    assert s.derived["critical"].evaluate(10) and not s.derived["critical"].evaluate(10.5)
    import numpy as np

    assert low.evaluate(np.array([10.0, 30.0, 29.9])).tolist() == [True, False, True]
    assert m.derived["has_key"].evaluate(np.array(["key", "box"])).tolist() == [True, False]
    assert m.derived["has_key"].evaluate(np.str_("key")) is True
    assert s.atoms == ["medkit", "poison", "shoot", "low_health", "critical", "no_ammo"]
    recover = s.specs["recover"].formula
    assert "low_health" in recover.atoms and "health" not in recover.atoms


def test_shooter_recover_is_a_ten_step_window() -> None:
    recover = speclang.load(str(ROOT / "examples" / "shooter.spec")).specs["recover"]
    low = {"low_health"}
    # Extensions over low_health alone suffice: a medkit can only help, like !low_health.
    assert reference.verdict(recover.formula, [low] * 10, ["low_health"], 10) == "violated"
    assert reference.verdict(recover.formula, [low] * 9, ["low_health"], 10) != "violated"
    assert _holds(recover, [low] * 5 + [low | {"medkit"}] + [set()])


def test_imports_bring_names_in_file_order(tmp_path: Path) -> None:
    m = speclang.load(str(ROOT / "examples" / "gridworld.spec"))
    assert m.props == ["lava", "creeper", "water", "goal", "torch", "dark"]
    assert m.specs["no_hazard"].formula is ir.Always(Not(Or(Atom("lava"), Atom("creeper"))))
    assert m.specs["light_first"].formula is ir.Always(
        Implies(Atom("dark"), ir.Once(Atom("torch"))))


def test_conjuncts_look_through_definitions() -> None:
    m = speclang.loads("props a, b, c\ndef safe = G !a & G !b\nspec s { safe & F c }\n")
    assert [c.text for c in m.specs["s"].conjuncts] == ["G !a", "G !b", "F c"]
    assert [c.span.line for c in m.specs["s"].conjuncts] == [2, 2, 3]


def test_templates_substitute_formulas() -> None:
    m = speclang.loads("props p, q\ndef resp(x, y) = G(x -> F y)\nspec s { resp(p & q, !p) }\n")
    p, q = Atom("p"), Atom("q")
    assert m.specs["s"].formula is ir.Always(Implies(And(p, q), ir.Eventually(Not(p))))


def test_source_hash_tracks_content_and_reading() -> None:
    text = "props a\nspec s { X a }\n"
    h = speclang.loads(text).source_hash
    assert h == speclang.loads(text).source_hash
    assert h != speclang.loads(text + "# comment\n").source_hash
    assert h != speclang.loads(text, weak_next=True).source_hash


def test_load_raises_spec_errors_with_rendered_diagnostics(tmp_path: Path) -> None:
    p = tmp_path / "bad.spec"
    p.write_text("props lava\nspec s { G !lavva }\n")
    with pytest.raises(speclang.SpecErrors) as info:
        speclang.load(str(p))
    err = info.value
    assert [d.code for d in err.diagnostics] == ["E010"]
    assert str(err) == (
        f'{p}:2:13: error[E010]: undeclared proposition "lavva"\n'
        "  |\n"
        "2 | spec s { G !lavva }\n"
        "  |             ^^^^^\n"
        '  = hint: did you mean "lava"?'
    )
