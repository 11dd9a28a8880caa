"""``speclang render`` on a real episode: the GIF shows the violation the monitor saw."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vizdoom")
PIL = pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from speclang.agents.vizdoom.render import PANEL_HEIGHT, VERDICT_COLOURS  # noqa: E402
from speclang.agents.vizdoom.specs import DEFAULT_SPEC  # noqa: E402
from speclang.cli import main  # noqa: E402


def test_render_gif_of_a_violation(tmp_path, capsys):
    out, frame = tmp_path / "ep.gif", tmp_path / "f.png"
    # Seed 10's random walk drinks a vial at step 51 (see test_vizdoom_env).
    rc = main(
        [
            "render",
            str(DEFAULT_SPEC),
            "--spec",
            "s0",
            "--seed",
            "10",
            "--max-steps",
            "60",
            "--out",
            str(out),
            "--frame",
            str(frame),
        ]
    )
    assert rc == 0
    msg = capsys.readouterr().out
    assert "violated at step 51" in msg and "G !poison" in msg
    gif = Image.open(out)
    assert gif.n_frames == 1 + 51 + 9  # reset frame, steps to the violation, 9 more (max 60)
    png = np.asarray(Image.open(frame).convert("RGB"))
    assert png.shape == (240 + PANEL_HEIGHT, 320, 3)
    # The border takes the verdict's colour: red on the violating step.
    assert tuple(png[1, 160]) == VERDICT_COLOURS["violated"]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--spec", "nope", "--out", "x.gif"], 1),
        (["--spec", "s0", "--out", "x.mp4"], 2),
        (["--spec", "s0", "--out", "x.gif", "--model", "missing.pt"], 1),
    ],
)
def test_render_bad_arguments(tmp_path, extra, code, capsys):
    extra = [str(tmp_path / e) if e.endswith((".gif", ".mp4", ".pt")) else e for e in extra]
    assert main(["render", str(DEFAULT_SPEC), *extra]) == code
    assert "Traceback" not in capsys.readouterr().err
