"""``speclang render`` on a real episode: the GIF shows the violation the monitor saw."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vizdoom")
PIL = pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from speclang.agents.vizdoom.render import (  # noqa: E402
    PANEL_HEIGHT,
    SCALE,
    VERDICT_COLOURS,
    _annotate,
)
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


class _Payload:
    """Unpickling this runs ``Path.touch`` on a marker file: the classic pickle exploit."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_render_refuses_a_malicious_checkpoint(tmp_path, capsys):
    import torch

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": _Payload(str(marker)), "shape": [4, 30, 40, 2, 3, 64]}, evil)
    rc = main(
        [
            "render",
            str(DEFAULT_SPEC),
            "--spec",
            "s0",
            "--out",
            str(tmp_path / "x.gif"),
            "--model",
            str(evil),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1, err
    assert not marker.exists(), "the checkpoint's payload ran"
    assert "refused" in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()


def test_load_checkpoint_reads_a_real_checkpoint(tmp_path):
    import torch

    from speclang.agents.vizdoom.render import load_checkpoint

    path = tmp_path / "ok.pt"
    torch.save(
        {
            "state_dict": {"w": torch.zeros(2)},
            "shape": [4, 30, 40, 2, 3, 64],
            "fear_network": "shared",
            "specs": ["s0"],
            "show_monitor": True,
        },
        path,
    )
    assert load_checkpoint(path)["shape"] == [4, 30, 40, 2, 3, 64]


def test_overlay_lines_are_readable_and_apart():
    # The panel text was Pillow's 11 px bitmap font on 12 px lines: glyphs of adjacent lines
    # nearly touched. Each drawn line must be its own band of rows, at least 9 px tall (12 px
    # for the first, which has ascenders and descenders), with 3 background rows between.
    info = {
        "safeguard": {
            "spec": "s0",
            "state": 1,
            "verdict": "violated",
            "labels": {"poison": True, "hurt": False},
        },
        "health": 87.0,
    }
    why = "G !poison was violated at step 51: poison held (the agent drank a vial). " * 3
    frame = _annotate(np.zeros((120, 160, 3), np.uint8), 51, info, why)
    panel = frame[120 * SCALE :]
    assert panel.shape[0] == PANEL_HEIGHT
    inked = (panel != (20, 20, 20)).any(axis=2).any(axis=1)
    assert not inked[0] and not inked[-1]  # no line cut at the panel's edges
    bands, start = [], None
    for row, ink in enumerate(inked):
        if ink and start is None:
            start = row
        elif not ink and start is not None:
            bands.append((start, row))
            start = None
    assert len(bands) == 7, bands  # 3 status lines + 4 lines of explanation
    assert all(end - begin >= 9 for begin, end in bands), bands
    assert bands[0][1] - bands[0][0] >= 12, bands
    gaps = [b[0] - a[1] for a, b in zip(bands, bands[1:], strict=False)]
    assert min(gaps) >= 3, gaps
    # Wrapped to the frame: nothing drawn in the right margin.
    assert not (panel[:, -3:] != (20, 20, 20)).any()
