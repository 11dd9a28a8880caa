"""Reading trace files (JSON Lines) for ``speclang monitor`` and ``speclang explain``.

One step per line, either a JSON array of the propositions that are true at that step
(``["key", "door"]``) or an object mapping propositions to booleans (``{"lava": false}``);
propositions not mentioned are false. Blank lines are skipped. Every problem is reported
with the file and line number.

With a spec file's observables (``observe health: float``), an object line may also carry
their values (``{"health": 25.5, "medkit": true}``); :func:`read_observations` returns them
so that derived propositions (``prop low = health < 30``) can be evaluated.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any


class TraceError(Exception):
    """A problem in a trace file, located by line number (``line`` is 0 when the file as a
    whole is the problem)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(
            f"{path}:{line}: error: {message}" if line else f"{path}: error: {message}"
        )
        self.path = path
        self.line = line
        self.message = message


def _unknown(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f'unknown proposition "{name}"{hint}'


def parse_step(
    text: str, props: Collection[str] | None, *, path: str = "<trace>", line: int = 1
) -> frozenset[str]:
    """The set of true propositions of one trace line. ``props`` lists the names allowed
    (``None`` allows any)."""
    return parse_observation(text, props, None, path=path, line=line)[0]


def parse_observation(
    text: str,
    props: Collection[str] | None,
    observables: Mapping[str, Any] | None,
    *,
    path: str = "<trace>",
    line: int = 1,
) -> tuple[frozenset[str], dict[str, object]]:
    """True propositions and observable values of one trace line. In an object line, a
    key naming one of ``observables`` (name -> type with ``kind`` and enum ``values``, as in
    ``speclang.Module.observables``) carries a value of that type instead of a boolean."""
    from speclang.compiler import safejson

    try:
        value = safejson.loads(text, allow_nan=True)
    except json.JSONDecodeError as exc:
        raise TraceError(path, line, f"invalid JSON at column {exc.colno}: {exc.msg}") from None
    except safejson.JSONLimitError as exc:
        raise TraceError(path, line, f"unreadable step: {exc}") from None
    obs = observables or {}
    true: set[str] = set()
    values: dict[str, object] = {}
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise TraceError(path, line, f"expected proposition names, got {json.dumps(item)}")
            true.add(item)
        names: Iterable[str] = value
    elif isinstance(value, dict):
        names = []
        for name, flag in value.items():
            if name in obs:
                values[name] = _observable_value(name, flag, obs[name], path, line)
                continue
            if props is not None and name not in props:
                raise TraceError(path, line, _unknown(name, [*props, *obs]))
            if not isinstance(flag, bool):
                raise TraceError(
                    path,
                    line,
                    f'proposition "{name}" must be true or false, got {json.dumps(flag)}',
                )
            if flag:
                true.add(name)
            names.append(name)
    else:
        raise TraceError(
            path,
            line,
            "expected a JSON array of true propositions or an object {proposition: bool}",
        )
    if props is not None:
        for name in names:
            if name not in props:
                raise TraceError(path, line, _unknown(name, [*props, *obs]))
    return frozenset(true), values


def _observable_value(name: str, value: object, typ: Any, path: str, line: int) -> object:
    kind = getattr(typ, "kind", None)
    ok = {
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "enum": isinstance(value, str) and value in getattr(typ, "values", ()),
        "text": isinstance(value, str),
    }.get(str(kind), True)
    if not ok:
        expected = (
            "one of " + ", ".join(getattr(typ, "values", ()))
            if kind == "enum"
            else f"an {kind}"
            if str(kind)[:1] in "aeiou"
            else f"a {kind}"
        )
        raise TraceError(
            path, line, f'observable "{name}" must be {expected}, got {json.dumps(value)}'
        )
    return value


def iter_trace(
    lines: Iterable[str], props: Collection[str] | None, *, path: str = "<trace>"
) -> Iterator[tuple[int, frozenset[str]]]:
    """``(line number, true propositions)`` per non-blank line, lazily (so a monitor can
    answer step by step on a stream)."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, parse_step(text, props, path=path, line=number)


def read_observations(
    path: str | os.PathLike[str],
    props: Collection[str] | None,
    observables: Mapping[str, Any],
) -> list[tuple[frozenset[str], dict[str, object]]]:
    """Like :func:`read_trace`, keeping observable values (see :func:`parse_observation`)."""
    return list(iter_observations(path, props, observables))


def iter_observations(
    path: str | os.PathLike[str], props: Collection[str] | None, observables: Any = None,
) -> Iterator[tuple[frozenset[str], dict[str, object]]]:
    """The steps of :func:`read_observations` one at a time, reading the file as they are
    asked for: memory stays constant however long the trace."""
    label = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            for number, text in enumerate(fh, start=1):
                if text.strip():
                    yield parse_observation(text, props, observables, path=label, line=number)
    except OSError as exc:
        raise TraceError(label, 0, f"cannot read trace: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TraceError(label, 0, "not a UTF-8 text file") from None


def read_trace(path: str | os.PathLike[str], props: Collection[str] | None) -> list[frozenset[str]]:
    """All steps of a trace file; raises :class:`TraceError` for unreadable files, bad lines
    and unknown propositions."""
    label = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return [step for _, step in iter_trace(fh, props, path=label)]
    except OSError as exc:
        raise TraceError(label, 0, f"cannot read trace: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TraceError(label, 0, "not a UTF-8 text file") from None


Observation = tuple[frozenset[str], dict[str, object]]


def observations(
    path: str, allowed: Collection[str] | None, observables: Any
) -> Iterator[Observation]:
    """The steps of the trace ``path`` (``-``: standard input, answered line by line) as
    ``(true propositions, observable values)``, for ``speclang monitor`` and ``speclang
    explain`` alike, so that both accept exactly the same traces."""
    import stat
    import sys

    if path != "-":
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except (OSError, ValueError):
            regular = True  # let the reader report it
        if regular:
            # Validate every line first, keeping nothing, so that a bad line produces no
            # partial output; then stream again. Memory stays constant (a whole 10^6-line
            # trace used to be held as a list).
            for _ in iter_observations(path, allowed, observables):
                pass
        yield from iter_observations(path, allowed, observables)
        return
    for number, text in enumerate(sys.stdin, start=1):
        if text.strip():
            yield parse_observation(text, allowed, observables, path="<stdin>", line=number)


def letter_of(
    true: frozenset[str], values: Mapping[str, object], derived: Mapping[str, Any]
) -> frozenset[str]:
    """The propositions true at one step: those the trace names, plus the derived ones
    (``prop low = health < 30``, ``prop rude = reply matches /.../``) whose observable is
    given in this step and satisfies the comparison or pattern. May raise
    :class:`speclang.model.PatternTimeout` for a pattern that runs too long."""
    computed = {
        name
        for name, d in derived.items()
        if d.observable in values and d.evaluate(values[d.observable])
    }
    return frozenset(true | computed)


# --- free formulas: which names a trace may mention ---------------------------------------


def add_alphabet_argument(parser: Any) -> None:
    """The ``--props`` option shared by ``monitor`` and ``explain``."""
    parser.add_argument(
        "--props",
        metavar="NAMES",
        help="with -f: the propositions a trace may mention (comma-separated); without it, "
        "names the formula does not use are ignored with a warning",
    )


def parse_alphabet(text: str | None) -> frozenset[str] | None:
    """The ``--props`` option of ``monitor``/``explain``: proposition names separated by
    commas or spaces, or ``None`` when the option is absent."""
    if text is None:
        return None
    return frozenset(n for n in text.replace(",", " ").split() if n)


class IgnoredNames:
    """A free formula (``-f``) declares no alphabet, so a trace may mention propositions the
    formula does not use (a corpus trace over ``a b c`` for the formula ``b``): they cannot
    change its verdicts and are ignored, with one warning per name on standard error.
    ``--props`` declares the alphabet instead, and then any other name is an error."""

    def __init__(self, used: Collection[str], path: str) -> None:
        self.used = frozenset(used)
        self.path = path
        self.warned: set[str] = set()

    def check(self, step: int, names: Iterable[str]) -> None:
        import sys

        for name in sorted(set(names) - self.used - self.warned):
            self.warned.add(name)
            print(
                f'{self.path}: warning: step {step} mentions "{name}", which the formula does '
                "not use; it is ignored (declare the alphabet with --props to make this an "
                "error)",
                file=sys.stderr,
            )
