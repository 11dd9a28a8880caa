"""Record one safeguarded VizDoom episode as frames with the monitor overlaid.

Each frame shows the game (upscaled) above a panel with the step, the active spec, the
monitor state and verdict (coloured), the true propositions and health; from the step that
violates the spec on, the panel shows the compiler's explanation of the violation (which
conjunct broke and why), so a viewer sees what the safeguard saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .env import VizDoomEnv
from .specs import load_specs, safeguard

VERDICT_COLOURS = {
    "satisfied": (60, 200, 60),
    "presumably_satisfied": (150, 220, 90),
    "presumably_violated": (240, 170, 40),
    "violated": (230, 50, 50),
}
SCALE = 2
# The text panel under the picture: Pillow's built-in scalable font (no system font needed)
# at 13 px on 18 px lines, so the lines have air between them; the bitmap default was 11 px
# on 12 px lines and hard to read in a GIF. Three status lines, then up to four lines of the
# violation's explanation, wrapped to the frame's width.
FONT_SIZE = 13
LINE_HEIGHT = 18
PAD = 6
WHY_LINES = 4
PANEL_HEIGHT = 2 * PAD + LINE_HEIGHT * (3 + WHY_LINES)


@dataclass
class Episode:
    frames: list[np.ndarray] = field(default_factory=list)
    states: list[int] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    explanation: str | None = None
    violation_step: int | None = None
    scenario_return: float = 0.0


class CheckpointError(ValueError):
    """A ``--model`` file that is not a checkpoint written by ``speclang train``."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a PPO checkpoint without running any code from it.

    ``torch.load(weights_only=True)`` only rebuilds tensors and plain containers; a pickle
    that asks for any other global (the classic ``__reduce__`` payload) is refused, so a
    checkpoint from an untrusted source cannot execute code here.
    """
    import pickle

    import torch

    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message ends in advice to pass weights_only=False; keep only the global
        # it refused.
        why = [ln.strip() for ln in str(exc).splitlines() if "nsupported global" in ln]
        raise CheckpointError(
            f"{path}: refused: loading it would run code from the file, and a checkpoint of "
            f"speclang train holds only tensors" + (f" ({why[0]})" if why else "")
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a checkpoint of speclang train: {exc}") from None
    if not isinstance(ckpt, dict) or not {"state_dict", "shape"} <= set(ckpt):
        raise CheckpointError(f"{path}: not a checkpoint of speclang train (no state_dict/shape)")
    return ckpt


class Policy:
    """Actions from a saved PPO checkpoint, or a seeded forward-biased random walk."""

    def __init__(self, model: str | Path | None, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.agent: Any = None
        self.frame_stack, self.downscale = 4, 4
        if model is not None:
            from .ppo import Agent

            ckpt = load_checkpoint(model)
            k, h, w, n_mon, n_act, hidden = ckpt["shape"]
            self.agent = Agent(k, h, w, n_mon, n_act, hidden, ckpt.get("fear_network", "shared"))
            self.agent.load_state_dict(ckpt["state_dict"])
            self.agent.eval()
            self.n_monitor = n_mon
            self.show_monitor = bool(ckpt.get("show_monitor", True))
            self.frame_stack, self.downscale = k, 120 // h

    def act(self, frames: np.ndarray, q: int) -> int:
        if self.agent is None:
            return int(self.rng.choice([0, 0, 0, 1, 2]))
        import torch

        mon = torch.zeros(1, self.n_monitor)
        if self.show_monitor and q < self.n_monitor:
            mon[0, q] = 1.0
        with torch.no_grad():
            logits, _, _ = self.agent(torch.as_tensor(frames[None]), mon)
        probs = torch.softmax(logits[0], -1).numpy().astype(np.float64)
        return int(self.rng.choice(len(probs), p=probs / probs.sum()))


def record(
    spec_file: str | Path,
    spec: str,
    *,
    model: str | Path | None = None,
    seed: int = 0,
    max_steps: int = 300,
    after_violation: int = 12,
) -> Episode:
    """Play one episode under ``spec`` and return annotated frames."""
    module, auts = load_specs(spec_file, [spec])
    policy = Policy(model, seed)
    env = VizDoomEnv(
        frame_stack=policy.frame_stack, downscale=policy.downscale, render_mode="rgb_array"
    )
    # "continue": the episode goes on past a violation for a few frames, so the viewer
    # sees the moment and the verdict staying violated.
    w = safeguard(env, module, auts, observation="dict", on_violation="continue", explain=True)
    ep = Episode()
    obs, info = w.reset(seed=seed)
    ep.frames.append(_annotate(env.render(), 0, info, None))
    for t in range(1, max_steps + 1):
        obs, _, term, trunc, info = w.step(policy.act(obs["obs"], obs["monitor"]))
        sg = info["safeguard"]
        ep.scenario_return += info["scenario_reward"]
        if "explanation" in sg and ep.explanation is None:
            ep.explanation, ep.violation_step = sg["explanation"], t
        ep.states.append(sg["state"])
        ep.verdicts.append(sg["verdict"])
        ep.frames.append(_annotate(env.render(), t, info, ep.explanation))
        if term or trunc:
            break
        if ep.violation_step is not None and t - ep.violation_step >= after_violation:
            break
    w.close()
    return ep


def _font() -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=FONT_SIZE)


def _wrap(text: str, font: Any, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` pixels in ``font``."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def panel_lines(
    step: int, info: dict[str, Any], why: str | None, font: Any, width: float
) -> list[tuple[str, tuple[int, int, int]]]:
    """The panel's lines and their colours, top to bottom (at most ``3 + WHY_LINES``)."""
    sg = info["safeguard"]
    true = sorted(p for p, v in sg["labels"].items() if v)
    lines = [
        (f"step {step}  spec {sg['spec']}  state q{sg['state']}", (235, 235, 235)),
        (sg["verdict"].replace("_", " "), VERDICT_COLOURS.get(sg["verdict"], (255, 255, 255))),
        (f"health {info['health']:.0f}  true: {', '.join(true) or '-'}", (200, 200, 200)),
    ]
    if why:
        wrapped = _wrap(why, font, width)
        if len(wrapped) > WHY_LINES:
            wrapped = wrapped[:WHY_LINES]
            wrapped[-1] = wrapped[-1] + " \u2026"
        lines += [(line, (255, 120, 120)) for line in wrapped]
    return lines


def _annotate(rgb: np.ndarray | None, step: int, info: dict[str, Any],
              why: str | None) -> np.ndarray:
    from PIL import Image, ImageDraw

    if rgb is None:  # gymnasium's render() gives nothing without render_mode="rgb_array"
        raise RuntimeError("the VizDoom env rendered no frame (render_mode must be rgb_array)")

    h, w = rgb.shape[:2]
    game = Image.fromarray(rgb).resize((w * SCALE, h * SCALE), Image.Resampling.NEAREST)
    img = Image.new("RGB", (w * SCALE, h * SCALE + PANEL_HEIGHT), (20, 20, 20))
    img.paste(game, (0, 0))
    d = ImageDraw.Draw(img)
    colour = VERDICT_COLOURS.get(info["safeguard"]["verdict"], (255, 255, 255))
    d.rectangle([0, 0, w * SCALE - 1, h * SCALE - 1], outline=colour, width=3)
    font = _font()
    y = h * SCALE + PAD
    for i, (text, fill) in enumerate(panel_lines(step, info, why, font, w * SCALE - 2 * PAD)):
        d.text((PAD, y + i * LINE_HEIGHT), text, fill=fill, font=font)
    return np.asarray(img)


def save_gif(ep: Episode, path: str | Path, fps: int = 8) -> None:
    from PIL import Image

    frames = [Image.fromarray(f) for f in ep.frames]
    # A palette shared by all frames keeps the GIF small and free of flicker.
    first = frames[0].quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    rest = [f.quantize(palette=first) for f in frames[1:]]
    first.save(
        str(path),
        save_all=True,
        append_images=rest,
        duration=int(1000 / fps),
        loop=0,
        optimize=True,
    )
