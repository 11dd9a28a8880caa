"""The ``speclang`` command line.

Each subcommand lives in its own module under ``speclang/cli/`` and exposes
``register(subparsers) -> None``, which adds an ``argparse`` subparser whose ``func``
default is a callable ``(args) -> int`` returning the exit code. Modules are listed in
``COMMANDS``; heavy imports (numpy tables, torch, gymnasium) belong inside ``func`` so that
``speclang check`` stays fast.

Exit codes: 0 ok, 1 spec errors (diagnostics printed), 2 usage errors (also: an optional
dependency is missing; the message names the extra that installs it). No Python traceback
ever reaches the user: unexpected exceptions are reported as an internal error (exit 3), with
the traceback only under ``SPECLANG_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from speclang.diagnostics import SpecErrors

# Module names under speclang.cli, in the order they appear in --help.
COMMANDS: tuple[str, ...] = (
    "check",
    "fmt",
    "compile",
    "monitor",
    "viz",
    "explain",
    "report_spec",
    "train",
    "report",
    "adapt",
    "render",
    "chat",
    "audit",
    "breakfix",
)

EXIT_OK, EXIT_SPEC_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

# The top-level import name of every optional dependency, by the extra of pyproject.toml that
# installs it (tests/speclang/test_cli_extras.py keeps this in step with pyproject.toml). A
# light install (`pip install speclang`) lacks them, and a command that needs one must say
# which extra to install rather than report a ModuleNotFoundError as a bug.
_GRID = frozenset({
    "gymnasium", "minigrid", "tqdm", "matplotlib", "scipy", "statsmodels", "PIL", "markdown",
})
EXTRA_MODULES: dict[str, frozenset[str]] = {
    "grid": _GRID,
    "rl": _GRID | {"torch", "tensorboard"},
    "vizdoom": _GRID | {"torch", "tensorboard", "vizdoom"},
    "llm": frozenset({"transformers", "torch", "tokenizers", "peft", "accelerate", "gguf"}),
    "testing": frozenset({"hypothesis"}),
    "ray": _GRID | {"ray"},
    "rllib": _GRID | {"ray", "torch"},
    "sb3": _GRID | {"stable_baselines3", "sb3_contrib", "torch"},
}

# The extra each command needs beyond the core install. It decides the advice when a missing
# module belongs to several extras (torch is in rl, llm and more; rl holds all of grid). A
# module only one extra installs is named by that one: `train` on a VizDoom config without
# vizdoom names [vizdoom], `train --backend ray` without Ray names [ray].
COMMAND_EXTRAS: dict[str, str] = {"train": "rl", "report": "grid", "adapt": "grid",
                                  "render": "vizdoom", "chat": "llm",
                                  "audit": "llm", "breakfix": "llm"}


def missing_extra(command: str, exc: ModuleNotFoundError) -> str | None:
    """The message for a ``ModuleNotFoundError`` raised while running ``command``, when the
    missing module is an optional dependency: which extra to install, and how. ``None`` when the
    module is not optional (then it is a bug, and the caller reports it as one)."""
    top = (exc.name or "").split(".")[0]
    owners = [extra for extra, modules in EXTRA_MODULES.items() if top in modules]
    if not owners:
        return None
    wanted = COMMAND_EXTRAS.get(command)
    extra = wanted if wanted in owners else owners[0]
    return (f"speclang {command} needs the [{extra}] extra ({top} is not installed): "
            f"pip install 'speclang[{extra}]'")


class UsageError(Exception):
    """Raised by a command for bad arguments (exit code 2)."""


class SpecError(Exception):
    """Raised by a command for a problem in the user's input that has no diagnostics list
    (exit code 1); the message is printed as ``error: <message>``."""


def _command_of(argv: Sequence[str]) -> str | None:
    """The command module an argument list asks for: the first argument that is not an
    option, when it names one (``report-spec`` is ``report_spec``)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    name = first.replace("-", "_") if first else None
    return name if name in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every command, or with just the command module ``only``:
    importing all of them (and what they import) would cost every run of ``check`` the
    start-up of ``compile`` and ``train``."""
    parser = argparse.ArgumentParser(
        prog="speclang",
        description="Safety specifications for learning agents: check, compile, monitor, train.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"speclang.cli.{name}")
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet, or whose optional extra is missing,
            # simply does not appear; any other import error is a bug and surfaces.
            missing = exc.name or ""
            if missing == f"speclang.cli.{name}" or not missing.startswith("speclang"):
                if only is not None:  # the usage error then lists the commands there are
                    return build_parser()
                continue
            raise
        module.register(sub)
    return parser


# Commands whose process does nothing after it returns but exit: their files are written
# and closed before (write_atomic, with-blocks), nothing registers atexit work that a
# cycle would hold. See _skip_final_collections.
_QUICK_EXIT = frozenset({"check", "fmt", "compile", "viz", "explain", "report_spec"})


def _skip_final_collections() -> None:
    """Move every object to the permanent generation, which the interpreter's collections
    at shutdown do not walk: `speclang check` spent 0.02 of its 0.14 s of CPU after the
    command had returned. atexit handlers, stream flushing and module teardown still run;
    only garbage cycles are left to the operating system, as at any exit."""
    import gc

    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    # Only as the program itself (argv from the command line): a caller of main([...]) goes
    # on running, and its cycles must still be collected.
    if argv is None and _command_of(sys.argv[1:]) in _QUICK_EXIT:
        _skip_final_collections()
    return code


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser(_command_of(sys.argv[1:] if argv is None else argv))
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    if args.version:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(version("speclang"))
        except PackageNotFoundError:
            print("speclang (not installed)")
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"speclang {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    except SpecErrors as exc:  # located diagnostics of a file or -f formula, already rendered
        print(str(exc), file=sys.stderr)
        return EXIT_SPEC_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except ModuleNotFoundError as exc:
        message = missing_extra(args.command, exc)
        if message is None:
            return _internal_error(args.command, exc)
        print(message, file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a raw traceback
        return _internal_error(args.command, exc)


def _internal_error(command: str, exc: BaseException) -> int:
    if os.environ.get("SPECLANG_DEBUG"):
        traceback.print_exc()
    print(
        f"speclang {command}: internal error: {type(exc).__name__}: {exc}\n"
        "  (this is a bug in speclang; rerun with SPECLANG_DEBUG=1 for the traceback)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
