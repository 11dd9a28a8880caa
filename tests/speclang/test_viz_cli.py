"""`speclang viz` and `speclang report-spec` from the command line."""

from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import speclang
from speclang.cli import main
from speclang.compiler import compile_spec
from speclang.compiler.viz import to_dot

ROOT = Path(__file__).resolve().parents[2]
GRID = str(ROOT / "examples" / "gridworld.spec")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")


@needs_dot
def test_svg_has_one_node_per_state(tmp_path, capsys):
    out = tmp_path / "cl.svg"
    assert main(["viz", GRID, "--spec", "cooled_lava", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    nodes = [
        g.get("id")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "node" and (g.get("id") or "").startswith("state-")
    ]
    assert sorted(nodes) == ["state-0", "state-1", "state-2"]
    assert "3 states" in capsys.readouterr().err


@needs_dot
def test_png_is_a_png(tmp_path):
    out = tmp_path / "f.png"
    assert main(["viz", "-f", "G(a -> X b)", "-o", str(out), "--hide-sink"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dot_output_matches_the_api(tmp_path):
    out = tmp_path / "nl.dot"
    assert main(["viz", GRID, "--spec", "no_lava", "-o", str(out)]) == 0
    expected = to_dot(compile_spec(speclang.load(GRID), "no_lava"))
    assert out.read_text() == expected


def test_without_output_dot_goes_to_stdout(capsys):
    assert main(["viz", "-f", "G !lava", "--hide-sink"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph") and "arrowhead" in out


def test_several_specs_need_a_choice(tmp_path, capsys):
    assert main(["viz", GRID, "-o", str(tmp_path / "x.svg")]) == 2
    assert "choose one with --spec" in capsys.readouterr().err


def test_unknown_spec_is_a_spec_error(tmp_path, capsys):
    assert main(["viz", GRID, "--spec", "no_lvaa", "-o", str(tmp_path / "x.svg")]) == 1
    assert 'did you mean "no_lava"' in capsys.readouterr().err


def test_bad_formula_shows_a_located_diagnostic(capsys):
    assert main(["viz", "-f", "G (a -> "]) == 1
    assert re.search(r"<formula>:1:\d+: error\[E\d+\]", capsys.readouterr().err)


def test_bad_suffix_is_a_usage_error(tmp_path, capsys):
    assert main(["viz", "-f", "G a", "-o", str(tmp_path / "x.gif")]) == 2
    assert ".svg, .png or .dot" in capsys.readouterr().err


def test_without_dot_writes_dot_and_says_how(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert main(["viz", "-f", "G a", "-o", str(tmp_path / "g.dot")]) == 0
    assert main(["viz", "-f", "G a", "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert f"dot -Tsvg {tmp_path / 'g.dot'} -o {tmp_path / 'g.svg'}" in err
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.svg").exists()


@needs_dot
def test_report_is_self_contained(tmp_path):
    out = tmp_path / "r.html"
    assert main(["report-spec", str(ROOT / "examples" / "door_key.spec"), "-o", str(out)]) == 0
    page = out.read_text()
    # Nothing is fetched: no external scripts, stylesheets or images.
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page)
    assert "<script" not in page
    sections = re.findall(r'<section class="spec" id="spec-(\w+)" data-states="(\d+)">', page)
    assert [s for s, _ in sections] == [
        "no_lava",
        "no_bumping",
        "useful_pickup",
        "key_first",
        "keep_key",
    ]
    assert page.count("<svg") == len(sections)
    assert "never touch the door before holding the key" in page
    assert "violation distance" in page  # shaping potentials in the state table
    assert '<ol class="progression">' in page


def test_report_needs_an_html_target(tmp_path, capsys):
    assert main(["report-spec", GRID, "-o", str(tmp_path / "r.txt")]) == 2
    assert (
        main(["report-spec", str(tmp_path / "missing.spec"), "-o", str(tmp_path / "r.html")]) == 1
    )
    assert "no such file" in capsys.readouterr().err


def test_saved_artifact_draws_like_its_spec(tmp_path, capsys):
    art = tmp_path / "cl.json"
    assert main(["compile", GRID, "--spec", "cooled_lava", "-o", str(art)]) == 0
    capsys.readouterr()
    assert main(["viz", "--artifact", str(art)]) == 0
    from_artifact = capsys.readouterr().out
    assert main(["viz", GRID, "--spec", "cooled_lava"]) == 0
    assert from_artifact == capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{}")
    assert main(["viz", "--artifact", str(tmp_path / "bad.json")]) == 1


@needs_dot
def test_report_keeps_large_pictures_readable(tmp_path):
    # t4 (minecraft) is 1785 pt wide: shrunk to page width its labels were ~6 px. The page
    # must keep the SVG at its natural size inside a scrolling box, fitting it only on request,
    # and the picture's title must carry the whole formula (it was cut at 90 characters).
    out = tmp_path / "m.html"
    assert main(["report-spec", str(ROOT / "examples" / "minecraft.spec"), "-o", str(out)]) == 0
    page = out.read_text()
    css = page[page.index("<style>") : page.index("</style>")]
    assert re.search(r"\.picture \{[^}]*overflow: auto", css)
    # The only rule that sizes the SVG to the page applies under the checked "fit" toggle.
    sizing = re.findall(r"([^}\n]*svg[^{]*)\{([^}]*)\}", css)
    for selector, body in sizing:
        if "width" in body or "max-width" in body:
            assert ":checked" in selector, (selector, body)
    section = page[page.index('id="spec-t4"') :]
    section = section[: section.index("</section>")]
    assert 'class="fit"' in section and 'for="fit-spec-t4"' in section
    m = re.search(r'<div class="picture"><svg width="(\d+)pt"', section)
    assert m and int(m.group(1)) > 1000  # natural size kept, not rewritten
    title = "".join(re.findall(r"<text[^>]*>([^<]*)</text>", section.split('<g id="node')[0]))
    title = html.unescape(title)
    assert title.startswith("t4: G(lava -> bench_route) & G(creeper -> smith_route)"), title
    # Where the title is the compiled formula (`speclang viz`), it is wrapped, not cut.
    dot = to_dot(compile_spec(speclang.load(str(ROOT / "examples" / "minecraft.spec")), "t4"))
    label = re.search(r"graph \[label=<(.*)>\];", dot).group(1)
    head = html.unescape(re.sub(r"<[^>]+>", " ", label.split("</font>")[0]))
    head = " ".join(head.split())
    whole = (
        "t4: G (creeper -> O (smith_table & O (iron & O wood))) "
        "& G (lava -> O (work_bench & O wood))"
    )
    assert head == whole, head


@needs_dot
def test_report_titles_show_the_formula_as_written(tmp_path):
    # The compiled formula unrolls F[0,2] into a chain of X; the picture's title must show
    # the spec as the user wrote it.
    out = tmp_path / "c.html"
    assert main(["report-spec", str(ROOT / "examples" / "chatbot.spec"), "-o", str(out)]) == 0
    page = out.read_text()
    section = page[page.index('id="spec-refer_diagnosis"') :]
    section = section[: section.index("</section>")]
    svg = section[section.index("<svg") :]
    title = html.unescape(
        "".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg.split('<g id="node')[0]))
    )
    # (the legend's texts follow the title)
    assert title.startswith("refer_diagnosis: G(diagnosis -> F[0,2] referral)presumably"), title


def test_source_title_keeps_conjuncts_apart():
    from speclang.compiler.viz import source_title

    module = speclang.loads("props a, b, c\nspec s { (a | b) & G(c) & F[0,1] c }\n")
    assert source_title(module.specs["s"]) == "s: (a | b) & G(c) & (F[0,1] c)"
