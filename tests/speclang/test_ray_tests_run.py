"""`make test` runs the tests marked ``ray`` in .venv-ray only from the paths its RAY_TESTS
names: a ``ray`` test written anywhere else would skip in .venv and never run at all."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_ray_marked_test_is_in_a_path_make_test_runs_in_venv_ray() -> None:
    makefile = (ROOT / "Makefile").read_text()
    paths = re.search(r"^RAY_TESTS = (.+)$", makefile, re.M)
    assert paths is not None, "Makefile: RAY_TESTS not found"
    roots = [ROOT / p for p in paths.group(1).split()]
    assert all(p.exists() for p in roots), roots
    assert "$(RAY_TESTS)" in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    marked = [p for p in (ROOT / "tests").rglob("*.py")
              if "pytest.mark.ray\n" in p.read_text(encoding="utf-8")]
    assert marked, "no test is marked ray"
    outside = [p.relative_to(ROOT).as_posix() for p in marked
               if not any(p == r or r in p.parents for r in roots)]
    assert outside == [], f"ray-marked tests outside Makefile's RAY_TESTS: {outside}"
