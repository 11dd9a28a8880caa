"""The external corpus (../shared/corpus, formulas with MONA's minimal DFAs): every formula
parses, compiles to the expected number of states and gives the expected verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speclang import compile_formula

CORPUS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _entries() -> list[dict]:
    if not CORPUS_DIR.is_dir():
        return []
    out = []
    for path in sorted(CORPUS_DIR.glob("*.jsonl")):
        for i, line in enumerate(path.read_text().splitlines()):
            if line.strip():
                out.append({"id": f"{path.stem}:{i + 1}", **json.loads(line)})
    return out


ENTRIES = _entries()


@pytest.mark.skipif(not ENTRIES, reason=f"no corpus at {CORPUS_DIR} (../shared/ is absent)")
@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_corpus_state_count_and_verdicts(entry: dict) -> None:
    aut = compile_formula(entry["formula"])
    assert aut.n_states == entry["states"], entry["formula"]
    for case in entry["traces"]:
        q = aut.initial
        for t, (letter, expected) in enumerate(zip(case["trace"], case["verdicts"], strict=True)):
            q = aut.step(q, {p: True for p in letter if p in aut.props})
            assert aut.verdict(q).label == expected, f"{entry['formula']} step {t + 1}"
