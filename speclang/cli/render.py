"""``speclang render``: a GIF of one VizDoom episode with the safeguard's view overlaid.

    speclang render examples/vizdoom.spec --spec s1 --out episode.gif [--model run/x.pt]

Every frame shows the active spec, the monitor state and verdict (the frame's border takes
the verdict's colour) and the true propositions; after a violation, the explanation of which
conjunct broke and why. Without ``--model`` a seeded random walk plays.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from speclang.cli import SpecError, UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "render",
        help="record a VizDoom episode as a GIF with monitor state, verdict and cause",
        description="Play one episode of the VizDoom health-gathering scenario under one "
        "spec of FILE and write a GIF with the automaton state, verdict and the cause of any "
        "violation overlaid.",
    )
    p.add_argument("file", metavar="FILE", help="a .spec file, e.g. examples/vizdoom.spec")
    p.add_argument("--spec", required=True, metavar="NAME", help="the spec to monitor")
    p.add_argument("--out", required=True, metavar="OUT.gif", help="where to write the GIF")
    p.add_argument("--model", metavar="MODEL.pt", help="a checkpoint of speclang train")
    p.add_argument("--seed", type=int, default=0, help="episode and policy seed")
    p.add_argument("--max-steps", type=int, default=300, help="stop after this many steps")
    p.add_argument("--fps", type=int, default=8, help="GIF frames per second")
    p.add_argument(
        "--frame",
        metavar="OUT.png",
        help="also write one frame as PNG (the violating one, else the last)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.out.lower().endswith(".gif"):
        raise UsageError("--out must end in .gif")
    if args.max_steps < 1 or args.fps < 1:
        raise UsageError("--max-steps and --fps must be >= 1")
    if args.model is not None and not Path(args.model).is_file():
        raise SpecError(f"{args.model}: no such checkpoint")
    # Before any work: without the rl extra this raises ModuleNotFoundError, which
    # speclang.cli.main turns into the advice to install it (exit 2).
    import vizdoom  # noqa: F401

    import speclang
    from speclang.agents.vizdoom.render import CheckpointError, load_checkpoint, record, save_gif

    try:
        module = speclang.load(args.file)
    except speclang.SpecErrors as exc:
        raise SpecError(str(exc)) from None
    except OSError as exc:
        raise SpecError(f"{args.file}: cannot read: {exc.strerror}") from None
    if args.spec not in module.specs:
        known = ", ".join(module.specs) or "none"
        raise SpecError(f"{args.file}: no spec named {args.spec!r} (specs: {known})")
    if args.model is not None:
        try:
            load_checkpoint(args.model)  # refuse a hostile file before starting the game
        except CheckpointError as exc:
            raise SpecError(str(exc)) from None
    ep = record(args.file, args.spec, model=args.model, seed=args.seed, max_steps=args.max_steps)
    save_gif(ep, args.out, fps=args.fps)
    if args.frame:
        from PIL import Image

        k = ep.violation_step if ep.violation_step is not None else len(ep.frames) - 1
        Image.fromarray(ep.frames[k]).save(args.frame)
    what = (
        f"violated at step {ep.violation_step}: {ep.explanation}"
        if ep.violation_step is not None
        else f"final verdict {ep.verdicts[-1]}"
    )
    print(f"{args.out}: {len(ep.frames)} frames, {what}")
    return 0
