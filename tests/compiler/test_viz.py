"""DOT pictures of monitors: conventions, determinism, SVG output, missing `dot`."""

from __future__ import annotations

import re
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

from speclang.compiler.automaton import Automaton
from speclang.compiler.viz import RenderUnavailable, render, to_dot, to_svg

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")
SVG_NS = "{http://www.w3.org/2000/svg}"


def _hazard_monitor() -> Automaton:
    """G !(creeper | lava) & G(goal -> O key), built by hand: 0 = no key yet, 1 = key seen,
    2 = violation sink."""
    props = ("creeper", "goal", "key", "lava")

    def target(q: int, letter: int) -> int:
        creeper, goal, key, lava = ((letter >> i) & 1 for i in range(4))
        if q == 2 or creeper or lava:
            return 2
        if q == 0:
            return 1 if key else (2 if goal else 0)
        return 1

    table = [[target(q, m) for m in range(16)] for q in range(3)]
    return Automaton.from_table(
        props,
        table,
        [True, True, False],
        residuals=["G !(creeper | lava) & G (goal -> O key)", "G !(creeper | lava)", "false"],
        name="safe",
        formula="G !(creeper | lava) & G (goal -> O key)",
    )


def _counter(n: int) -> Automaton:
    """n states: `a` advances, `b` resets to 0, the last state is a sink."""
    table = []
    for q in range(n):
        row = []
        for letter in range(4):
            a, b = letter & 1, letter >> 1
            row.append(n - 1 if q == n - 1 else (0 if b else (q + 1 if a else q)))
        table.append(row)
    return Automaton.from_table(("a", "b"), table, [True] * (n - 1) + [False], name=f"count{n}")


def _edges(dot: str) -> list[tuple[str, str, str]]:
    return re.findall(r'^\s*(q\d+) -> (\w+) \[.*?label="([^"]*)"', dot, re.M)


def test_initial_arrow_and_one_node_per_state():
    dot = to_dot(_hazard_monitor())
    assert re.search(r"__start -> q0 ", dot)
    assert re.findall(r'id="state-(\d+)"', dot) == ["0", "1", "2"]


def test_parallel_letters_merge_into_one_minimised_edge_per_pair():
    edges = _edges(to_dot(_hazard_monitor()))
    pairs = [(s, t) for s, t, _ in edges]
    assert len(pairs) == len(set(pairs)) == 6
    labels = {(s, t): g for s, t, g in edges}
    assert labels[("q1", "q2")] == "creeper | lava"
    assert labels[("q0", "q2")] == "creeper |\\nlava |\\n(goal & !key)"  # wrapped
    assert labels[("q2", "q2")] == "true"


def test_verdicts_drawn_by_shape_and_colour():
    dot = to_dot(_hazard_monitor())
    node = {m.group(1): m.group(0) for m in re.finditer(r"^\s*q(\d+) \[id=.*$", dot, re.M)}
    assert 'shape="doublecircle"' in node["0"]
    assert 'shape="octagon"' in node["2"] and 'fillcolor="#e53935"' in node["2"]
    assert "remaining obligation: G !(creeper | lava)" in node["1"]


def test_hide_sink_turns_edges_into_red_stubs():
    dot = to_dot(_hazard_monitor(), hide_sink=True)
    assert 'id="state-2"' not in dot
    assert "-> q2" not in dot
    stub_text = dict(
        re.findall(r'^\s*(__stub\d+) \[shape="plaintext".*?label="([^"]*)"', dot, re.M)
    )
    stubs = re.findall(r'^\s*q(\d+) -> (__stub\d+) \[.*arrowhead="tee"', dot, re.M)
    # Long guards are wrapped one disjunct per line.
    assert [(q, stub_text[s]) for q, s in stubs] == [
        ("0", "creeper |\\nlava |\\n(goal & !key)"),
        ("1", "creeper | lava"),
    ]
    assert "sink hidden" in dot  # legend explains the stubs


def test_dot_is_deterministic():
    assert to_dot(_hazard_monitor()) == to_dot(_hazard_monitor())


@needs_dot
def test_svg_parses_and_has_one_node_per_state():
    aut = _counter(7)
    root = ET.fromstring(to_svg(aut))
    ids = [
        g.get("id")
        for g in root.iter(f"{SVG_NS}g")
        if g.get("class") == "node" and (g.get("id") or "").startswith("state-")
    ]
    assert sorted(ids) == [f"state-{q}" for q in range(aut.n_states)]


@needs_dot
def test_jupyter_display_offers_svg():
    bundle = _hazard_monitor()._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert bundle["text/vnd.graphviz"].startswith('digraph "safe"')


@needs_dot
def test_500_states_render_quickly(tmp_path):
    aut = _counter(500)
    start = time.perf_counter()
    out = render(aut, tmp_path / "big.svg")
    elapsed = time.perf_counter() - start
    root = ET.parse(out).getroot()
    assert sum(1 for g in root.iter(f"{SVG_NS}g") if g.get("class") == "node") >= 500
    assert elapsed < 5.0, f"500-state picture took {elapsed:.1f} s"


def test_without_dot_writes_dot_and_says_how_to_render(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    aut = _hazard_monitor()
    assert render(aut, tmp_path / "m.dot").read_text() == to_dot(aut)
    with pytest.raises(RenderUnavailable, match=r"dot -Tsvg .*m\.dot -o .*m\.svg"):
        render(aut, tmp_path / "m.svg")
    assert (tmp_path / "m.dot").exists()
    assert _hazard_monitor()._repr_svg_() is None


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown picture format"):
        render(_hazard_monitor(), tmp_path / "m.gif")
