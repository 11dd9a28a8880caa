"""The versioned JSON artifact of a compiled monitor (``"format": "speclang-dfa"``).

The artifact is plain JSON, read with ``json.load`` only: no pickle, no eval. Loading
validates it against ``compiler/schemas/speclang-dfa.schema.json`` (when ``jsonschema`` is
installed) and *always* runs the consistency checks below, because a schema cannot say that
a state id is in range or that the verdicts match the transition structure. A file edited
after it was written fails its checksum. Every error names the file and the field.

Layout (docs/artifact.md has the full description):
    propositions   sorted proposition names; a letter is a valuation of them
    states[i]      id, accepting, verdict, residual (obligation left, speclang syntax),
                   edges: [{to, guard}] with guard a Boolean expression over propositions
                   (written for automata up to WRITE_GUARDS_UP_TO edges, or on request)
    decision_diagram  exact shared diagram arrays (var, lo, hi, roots): lossless stepping
    letter_classes    class diagram, one representative valuation per class, dense delta
                      (written for tables up to WRITE_CLASSES_UP_TO entries, or on request)
    potentials        shaping potentials of the three kinds (compiler.shaping)
    checksum          sha256 of the canonical JSON of everything else
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from speclang.compiler import graph, safejson
from speclang.compiler.automaton import Automaton, Verdict, defer_letter_classes
from speclang.compiler.classes import attach_letter_classes
from speclang.compiler.kernel import leaves

FORMAT = "speclang-dfa"
VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("schemas") / "speclang-dfa.schema.json"
_VERDICT_NAMES = [v.label for v in Verdict]
# Above this many (state, class) pairs the delta-vs-diagram check samples rows instead of
# checking them all, so loading a huge monitor stays fast.
_FULL_CHECK_PAIRS = 4_000_000
MINIMISE_GUARDS_UP_TO = 2_000  # edges
# The edge list is the only part of an artifact that grows with edges rather than with the
# diagram: G p1 & F p2 .. F p14 has 8,193 states but 1.6 million edges, and writing their
# guards took 35 of the 50 s that saving it cost (0.7 s to compile). Above this many edges
# the guards are left out unless asked for; the diagram, which steps the monitor, is
# always there.
WRITE_GUARDS_UP_TO = 20_000  # edges
# The letter classes are derived from the diagram (a loader without them builds them when
# they are first read), and their table can be exponential in the propositions: 65,536
# classes for the 17 states of F(p1 & F(p2 & .. F p16)), a 9.5 MB file that took about a
# second to write. They are written when the table has at most this many (state,
# class) entries, unless asked for.
WRITE_CLASSES_UP_TO = 1 << 16  # entries of delta
# jsonschema is slow on long arrays; it sees the first entries of each, and the structural
# checks, which cover every entry, do the rest.
_SCHEMA_SAMPLE = 64
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ArtifactError(ValueError):
    """A file that is not a valid, untampered speclang-dfa artifact."""


# --- writing -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _name_text(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name) and name not in ("true", "false"):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cube_text(cube: Mapping[str, bool]) -> str:
    if not cube:
        return "true"
    return " & ".join(_name_text(p) if v else "!" + _name_text(p) for p, v in cube.items())


def edges(aut: Automaton, state: int, *, minimise: bool = True) -> list[tuple[int, str]]:
    """``(target, guard)`` per distinct successor of ``state``. The guard is minimised by
    ``speclang.compiler.guards`` when ``minimise`` (and that module is present), else it is the
    disjunction of the diagram's disjoint cubes leading there (``true`` when every letter
    does); both are exact."""
    if minimise:
        try:
            from speclang.compiler.guards import edge_guards
        except ImportError:  # the minimiser is optional; the raw cubes are still exact
            pass
        else:
            return sorted(edge_guards(aut, state).items())
    by_target: dict[int, list[dict[str, bool]]] = {}
    for cube, target in aut.cubes(state):
        by_target.setdefault(target, []).append(cube)
    out = []
    for target in sorted(by_target):
        cubes = by_target[target]
        if any(not c for c in cubes):
            guard = "true"
        elif len(cubes) == 1:
            guard = _cube_text(cubes[0])
        else:
            guard = " | ".join(f"({_cube_text(c)})" if len(c) > 1 else _cube_text(c) for c in cubes)
        out.append((target, guard))
    return out


def _jsonable(value: Any) -> Any:
    """Meta data as JSON: numpy scalars/arrays become numbers/lists, NaN becomes null and
    anything else without a JSON form is stored as its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def checksum(doc: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of every field but ``checksum`` itself."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    text = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def to_json(
    aut: Automaton,
    *,
    potentials: Mapping[str, np.ndarray] | None = None,
    vi_gamma: float | None = None,
    guards: bool | None = None,
    letter_classes: bool | None = None,
) -> dict[str, Any]:
    """The artifact as a JSON-ready dict. Potentials default to the automaton's own (those it
    was loaded with) or are computed for all three kinds. ``guards``: list every state's
    edges with their readable guards (``True``), leave them out (``False``), or list them
    when the automaton has at most :data:`WRITE_GUARDS_UP_TO` edges (``None``).
    ``letter_classes`` likewise, with :data:`WRITE_CLASSES_UP_TO` entries of the table
    (``True`` writes any table the automaton has: up to ``compiler.classes.MAX_DENSE``)."""
    body = _body(aut, potentials=potentials, vi_gamma=vi_gamma, guards=guards,
                 letter_classes=letter_classes)
    doc = _plain(body)
    doc["checksum"] = "sha256:" + hashlib.sha256(_canonical(body).encode("ascii")).hexdigest()
    return doc


def _plain(value: Any) -> Any:
    """``value`` with the numpy arrays of :func:`_body` as lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _body(
    aut: Automaton,
    *,
    potentials: Mapping[str, np.ndarray] | None = None,
    vi_gamma: float | None = None,
    guards: bool | None = None,
    letter_classes: bool | None = None,
) -> dict[str, Any]:
    """Every field of :func:`to_json` but the checksum, JSON-ready except that the integer
    arrays of the diagrams are numpy arrays (:func:`_plain` turns them into lists)."""
    from speclang.compiler import shaping

    stored = aut.meta.get("potentials") if isinstance(aut.meta.get("potentials"), Mapping) else None
    if potentials is None and stored is not None:
        potentials = {k: v for k, v in stored.items() if k in shaping.KINDS}
        vi_gamma = vi_gamma if vi_gamma is not None else aut.meta.get("vi_gamma")
    vi_gamma = float(vi_gamma if vi_gamma is not None else shaping.DEFAULT_VI_GAMMA)
    if potentials is None:
        potentials = shaping.all_potentials(aut, vi_gamma=vi_gamma)
    pot_doc: dict[str, Any] = {"vi_gamma": vi_gamma}
    for kind, phi in potentials.items():
        if kind not in shaping.KINDS:
            raise ValueError(f"unknown potential kind {kind!r}")
        arr = np.asarray(phi, dtype=np.float64)
        # Refuse here what load() would refuse, so a saved file always loads.
        if arr.shape != (aut.n_states,) or not ((arr >= 0) & (arr <= 1)).all():
            raise ValueError(f"potentials[{kind!r}] must be {aut.n_states} numbers in [0, 1]")
        pot_doc[kind] = [float(x) for x in arr]

    # Minimising every guard costs about a millisecond per edge: worth it for the monitors
    # people read, not for the 100k-edge automata of a benchmark.
    listed = graph.successor_lists(aut, WRITE_GUARDS_UP_TO)  # None: more edges than that
    n_edges = None if listed is None else sum(map(len, listed))
    minimise = n_edges is not None and n_edges <= MINIMISE_GUARDS_UP_TO
    if guards is None:
        guards = n_edges is not None
    states = []
    # Python values read once: numpy scalars and enum look-ups per state cost more than
    # the rest of a state's entry (8,193 states: 0.1 s).
    accepting = aut.accepting.tolist()
    labels = {int(v): v.label for v in Verdict}
    verdicts = [labels[int(v)] for v in aut.verdicts.tolist()]
    for q in range(aut.n_states):
        state: dict[str, Any] = {
            "id": q,
            "accepting": bool(accepting[q]),
            "verdict": verdicts[q],
            "residual": aut.residuals[q] if q < len(aut.residuals) else "",
        }
        if guards:
            state["edges"] = [{"to": t, "guard": g} for t, g in edges(aut, q, minimise=minimise)]
        states.append(state)
    classes = None
    if _write_classes(aut, letter_classes):
        cvar, clo, chi, delta = aut.class_dd_var, aut.class_dd_lo, aut.class_dd_hi, aut.delta
        assert cvar is not None and clo is not None and chi is not None and delta is not None
        classes = {
            "count": int(delta.shape[1]),
            "decision_diagram": {"var": cvar, "lo": clo, "hi": chi},
            "representatives": _class_representatives(aut.props, cvar, clo, chi,
                                                      int(delta.shape[1])),
            "delta": delta.tolist(),
        }
    meta = {k: v for k, v in aut.meta.items() if k not in ("potentials", "vi_gamma")}
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": aut.name,
        "formula": aut.formula,
        "source_hash": aut.source_hash,
        "propositions": list(aut.props),
        "initial": int(aut.initial),
        "states": states,
        "decision_diagram": {
            "var": aut.dd_var,
            "lo": aut.dd_lo,
            "hi": aut.dd_hi,
            "roots": aut.roots,
        },
        "letter_classes": classes,
        "potentials": pot_doc,
        "meta": _jsonable(meta),
    }
    return doc


def _canonical(value: Any) -> str:
    """The canonical JSON of :func:`checksum` (sorted keys, no spaces, ASCII) of a
    :func:`_body` value: what ``json.dumps`` gives for its :func:`_plain` form."""
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist(), separators=(",", ":"))
    if isinstance(value, dict) and any(isinstance(v, np.ndarray | dict) for v in value.values()):
        return "{" + ",".join(f"{json.dumps(k)}:{_canonical(value[k])}"
                              for k in sorted(value)) + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def _write_classes(aut: Automaton, letter_classes: bool | None) -> bool:
    """Whether the artifact gets ``aut``'s letter classes (see :func:`to_json`); builds
    them when they are small enough and not built yet. The answer depends on the automaton
    alone, not on whether something read its classes before."""
    if letter_classes is False:
        return False
    if letter_classes is True:
        return aut.delta is not None and aut.class_dd_var is not None
    if not aut.letter_classes_built:
        # Abandoned (the classes stay to be built on first read) once the table is larger
        # than what would be written, so a large table costs nothing here.
        attach_letter_classes(aut, max_dense=WRITE_CLASSES_UP_TO)
        if not aut.letter_classes_built:
            return False
    delta = aut.delta
    return delta is not None and aut.class_dd_var is not None and delta.size <= WRITE_CLASSES_UP_TO


def _class_representatives(props: Sequence[str], cvar: np.ndarray, clo: np.ndarray,
                           chi: np.ndarray, count: int) -> list[list[str]]:
    """One letter per class (true propositions), found by walking the class diagram: the
    first path reaching each class leaf, with untested propositions false."""
    var, lo, hi = cvar.tolist(), clo.tolist(), chi.tolist()
    reps: list[list[str] | None] = [None] * count
    stack: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    seen: set[int] = set()
    while stack:
        node, true_props = stack.pop()
        v = var[node]
        if v < 0:
            c = lo[node]
            if reps[c] is None:
                reps[c] = list(true_props)
            continue
        if node in seen:
            # Every path into a shared node reaches the same leaves: one visit suffices.
            continue
        seen.add(node)
        stack.append((hi[node], (*true_props, props[v])))
        stack.append((lo[node], true_props))
    missing = [c for c, r in enumerate(reps) if r is None]
    if missing:
        raise ValueError(f"letter classes {missing} have no leaf in the class diagram")
    return [r for r in reps if r is not None]


def dumps(doc: Mapping[str, Any]) -> str:
    """The file's text: JSON with one top-level field, state or delta row per line
    (diffable and greppable without the size of a fully indented file), each value in the
    canonical form the checksum is computed over."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return _text(body, {k: _canonical(v) for k, v in body.items()}, doc.get("checksum"))


def _text(body: Mapping[str, Any], pieces: Mapping[str, str], digest: Any) -> str:
    """The file from the canonical text of every field (``pieces``) and the checksum."""
    parts = []
    for key, text in pieces.items():
        if key == "states":
            # Every state's canonical text starts with its first key in sorted order,
            # "accepting"; `{"` cannot occur inside a JSON string (its quotes are
            # escaped), so this finds the boundaries between states and nothing else.
            text = text.replace('},{"accepting":', '},\n    {"accepting":')
            if text != "[]":
                text = "[\n    " + text[1:-1] + "\n  ]"
        elif key == "letter_classes" and isinstance(body.get(key), Mapping):
            fields = []
            for k in sorted(body[key]):
                v = body[key][k]
                sub = _canonical(v)
                if k == "delta" and sub != "[]":  # rows of integers: "],[" only between rows
                    sub = "[\n    " + sub[1:-1].replace("],[", "],\n    [") + "\n  ]"
                fields.append(f"{json.dumps(k)}:{sub}")
            text = "{" + ",".join(fields) + "}"
        parts.append(f"  {json.dumps(key)}: {text}")
    if digest is not None:
        parts.append(f'  "checksum": {json.dumps(digest)}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def save(
    aut: Automaton,
    path: str | os.PathLike[str],
    *,
    potentials: Mapping[str, np.ndarray] | None = None,
    guards: bool | None = None,
    letter_classes: bool | None = None,
) -> Path:
    """Write the artifact atomically (a reader never sees a half-written file). ``guards``
    and ``letter_classes`` as in :func:`to_json`. The canonical JSON of each field is
    written once and serves both the checksum and the file (two encodings were half of
    what writing a large monitor cost)."""
    out = Path(path)
    body = _body(aut, potentials=potentials, guards=guards, letter_classes=letter_classes)
    pieces = {k: _canonical(v) for k, v in body.items()}
    canonical = "{" + ",".join(f"{json.dumps(k)}:{pieces[k]}" for k in sorted(pieces)) + "}"
    digest = "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()
    text = _text(body, pieces, digest)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, text)
    return out


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` by ``text`` so that a reader (or a full disk, or a crash) never
    leaves a half-written file: write a temporary file beside it, flush, then rename.

    ``mkstemp`` creates the file 0600; the result gets ``mode`` (an existing file's mode,
    say) or else what ``open()`` would have given, 0666 less the umask. Raises ``OSError``
    with the original file untouched.
    """
    out = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_current_umask())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- reading -------------------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Automaton:
    """Read, validate and check an artifact; raises :class:`ArtifactError` naming the file
    and the offending field."""
    label = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ArtifactError(f"{label}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{label}: not a UTF-8 text file") from None
    return loads(text, source=label)


def loads(text: str, *, source: str = "<artifact>") -> Automaton:
    try:
        doc = safejson.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except safejson.JSONLimitError as exc:
        raise ArtifactError(f"{source}: not a speclang artifact: {exc}") from None
    return from_json(doc, source=source)


def _field(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_errors(doc: Any, source: str) -> None:
    try:
        import jsonschema
    except ImportError:  # optional: the checks below still run
        return
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(_schema_view(doc)))
    if error is not None:
        raise ArtifactError(f"{source}: {_field(list(error.absolute_path))}: {error.message}")


def _int_array(value: Any) -> np.ndarray | None:
    if not isinstance(value, list):
        return None
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError):  # ragged nesting, huge numbers
        return None
    if value and arr.dtype.kind not in "iu":
        return None
    return arr.astype(np.int64)


def _schema_view(value: Any, depth: int = 0) -> Any:
    """``value`` with every list cut to its first entries (the paths of what is kept are
    unchanged, so error locations stay right)."""
    if isinstance(value, dict):
        return {k: _schema_view(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        keep = _SCHEMA_SAMPLE if depth <= 2 else _SCHEMA_SAMPLE // 8
        return [_schema_view(v, depth + 1) for v in value[:keep]]
    return value


class _Checker:
    """Consistency checks that hold for every artifact ``save`` writes; written so that a
    wrongly typed field gives a message, not a Python exception, even without jsonschema."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str) -> ArtifactError:
        return ArtifactError(f"{self.source}: {field}: {message}")

    def get(self, obj: Any, key: str, field: str) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(field, "expected an object")
        if key not in obj:
            raise self.fail(field, f"missing required field {key!r}")
        return obj[key]

    def ints(
        self, value: Any, field: str, lo: int, hi: int, *, length: int | None = None
    ) -> np.ndarray:
        # One numpy conversion instead of a Python check per entry: lists of ints become an
        # integer array; strings, floats, nulls, nested lists or all-bool lists do not.
        arr = _int_array(value)
        if arr is None or arr.ndim != 1:
            raise self.fail(field, "expected a list of integers")
        if length is not None and len(value) != length:
            raise self.fail(field, f"has {len(value)} entries, expected {length}")
        bad = np.flatnonzero((arr < lo) | (arr > hi))
        if bad.size:
            i = int(bad[0])
            raise self.fail(f"{field}[{i}]", f"{value[i]} is out of range {lo}..{hi}")
        return arr

    def diagram(
        self, dd: Any, field: str, n_props: int, n_leaves: int, leaf_kind: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        var_l = self.get(dd, "var", field)
        m = len(var_l) if isinstance(var_l, list) else 0
        if m == 0:
            raise self.fail(f"{field}.var", "the diagram has no nodes")
        var = self.ints(var_l, f"{field}.var", -1, n_props - 1)
        lo = self.ints(self.get(dd, "lo", field), f"{field}.lo", 0, 2**31 - 1, length=m)
        hi = self.ints(self.get(dd, "hi", field), f"{field}.hi", 0, 2**31 - 1, length=m)
        leaf = var < 0
        bad = np.flatnonzero(leaf & (lo >= n_leaves))
        if bad.size:
            k = int(bad[0])
            raise self.fail(
                f"{field}.lo[{k}]", f"leaf {leaf_kind} {lo[k]} is out of range 0..{n_leaves - 1}"
            )
        for name, child in (("lo", lo), ("hi", hi)):
            bad = np.flatnonzero(~leaf & (child >= m))
            if bad.size:
                k = int(bad[0])
                raise self.fail(
                    f"{field}.{name}[{k}]", f"node {child[k]} does not exist (0..{m - 1})"
                )
            safe = np.where(leaf, 0, child)
            cvar = var[safe]
            # Strictly increasing variables along every edge: ordered, and thus acyclic.
            bad = np.flatnonzero(~leaf & (cvar >= 0) & (cvar <= var))
            if bad.size:
                k = int(bad[0])
                raise self.fail(
                    f"{field}.{name}[{k}]",
                    f"node {k} tests proposition {var[k]} but its child {child[k]} tests "
                    f"{cvar[k]}: the diagram is not ordered",
                )
        return var, lo, hi


def from_json(doc: Any, *, source: str = "<artifact>") -> Automaton:
    """Build an :class:`Automaton` from a parsed artifact after validating it."""
    c = _Checker(source)
    if not isinstance(doc, dict):
        raise c.fail("(top level)", "expected a JSON object")
    if doc.get("format") != FORMAT:
        raise c.fail("format", f"{doc.get('format')!r} is not a speclang-dfa artifact")
    if doc.get("version") != VERSION:
        raise c.fail(
            "version", f"unsupported version {doc.get('version')!r} (this reader knows {VERSION})"
        )
    _schema_errors(doc, source)

    props = c.get(doc, "propositions", "(top level)")
    if not isinstance(props, list) or not all(isinstance(p, str) and p for p in props):
        raise c.fail("propositions", "expected a list of non-empty names")
    if props != sorted(set(props)):
        raise c.fail("propositions", "names must be distinct and sorted")
    n_props = len(props)

    states = c.get(doc, "states", "(top level)")
    if not isinstance(states, list) or not states:
        raise c.fail("states", "expected a non-empty list")
    n = len(states)
    accepting = np.zeros(n, dtype=bool)
    verdicts = np.zeros(n, dtype=np.int8)
    residuals: list[str] = []
    for q, st in enumerate(states):
        f = f"states[{q}]"
        if c.get(st, "id", f) != q:
            raise c.fail(f"{f}.id", f"{st['id']!r} should be {q} (states are listed in id order)")
        acc = c.get(st, "accepting", f)
        if not isinstance(acc, bool):
            raise c.fail(f"{f}.accepting", "expected true or false")
        accepting[q] = acc
        verdict = c.get(st, "verdict", f)
        if verdict not in _VERDICT_NAMES:
            raise c.fail(f"{f}.verdict", f"{verdict!r} is not one of {_VERDICT_NAMES}")
        verdicts[q] = Verdict.parse(verdict)
        residual = c.get(st, "residual", f)
        if not isinstance(residual, str):
            raise c.fail(f"{f}.residual", "expected a string")
        residuals.append(residual)

    initial = c.get(doc, "initial", "(top level)")
    if not isinstance(initial, int) or isinstance(initial, bool) or not 0 <= initial < n:
        raise c.fail("initial", f"{initial!r} is not a state (0..{n - 1})")

    dd = c.get(doc, "decision_diagram", "(top level)")
    var, lo, hi = c.diagram(dd, "decision_diagram", n_props, n, "target state")
    roots = c.ints(
        c.get(dd, "roots", "decision_diagram"), "decision_diagram.roots", 0, len(var) - 1, length=n
    )

    aut = Automaton(
        props=tuple(props),
        accepting=accepting,
        verdicts=verdicts,
        residuals=tuple(residuals),
        dd_var=var.astype(np.int32),
        dd_lo=lo.astype(np.int32),
        dd_hi=hi.astype(np.int32),
        roots=roots.astype(np.int32),
        initial=initial,
    )
    from speclang.compiler.shaping import KINDS

    succ = graph.successor_lists(aut)
    # Edges are all listed or all left out (large automata); a mix is a damaged file.
    with_edges = [isinstance(st, dict) and "edges" in st for st in states]
    if any(with_edges) and not all(with_edges):
        q = with_edges.index(not with_edges[0])
        word = "missing" if with_edges[0] else "listed"
        raise c.fail(f"states[{q}].edges", f"{word} here but not for states[0]: all or none")
    for q, st in enumerate(states if all(with_edges) else ()):
        f = f"states[{q}].edges"
        listed = c.get(st, "edges", f"states[{q}]")
        if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
            raise c.fail(f, "expected a list of {to, guard} objects")
        targets = []
        for i, e in enumerate(listed):
            to = c.get(e, "to", f"{f}[{i}]")
            guard = c.get(e, "guard", f"{f}[{i}]")
            if not isinstance(guard, str) or not guard:
                raise c.fail(f"{f}[{i}].guard", "expected a non-empty Boolean expression")
            if not isinstance(to, int) or isinstance(to, bool):
                raise c.fail(f"{f}[{i}].to", f"{to!r} is not a state id")
            targets.append(to)
        if sorted(targets) != succ[q]:
            raise c.fail(
                f, f"targets {sorted(targets)} disagree with the decision diagram {succ[q]}"
            )
    expected = graph.structural_verdicts(accepting, succ)
    bad = np.flatnonzero(expected != verdicts)
    if bad.size:
        q = int(bad[0])
        raise c.fail(
            f"states[{q}].verdict",
            f"{Verdict(int(verdicts[q])).label!r} contradicts the transition structure "
            f"(the automaton makes it {Verdict(int(expected[q])).label!r})",
        )

    classes = c.get(doc, "letter_classes", "(top level)")
    if classes is not None:
        _load_classes(c, classes, aut)
    else:
        # left out of the file (too many, or on request): built when first read, as for
        # the automaton that was saved
        defer_letter_classes(aut, attach_letter_classes)

    pots = c.get(doc, "potentials", "(top level)")
    if not isinstance(pots, dict):
        raise c.fail("potentials", "expected an object")
    vi_gamma = pots.get("vi_gamma")
    if not isinstance(vi_gamma, int | float) or isinstance(vi_gamma, bool) or not 0 < vi_gamma < 1:
        raise c.fail("potentials.vi_gamma", f"{vi_gamma!r} is not a number in (0, 1)")
    loaded: dict[str, np.ndarray] = {}
    for kind, values in pots.items():
        if kind == "vi_gamma":
            continue
        if kind not in KINDS:
            raise c.fail(
                f"potentials.{kind}", f"unknown potential kind (expected one of {list(KINDS)})"
            )
        if (
            not isinstance(values, list)
            or len(values) != n
            or not all(
                isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x <= 1
                for x in values
            )
        ):
            raise c.fail(f"potentials.{kind}", f"expected {n} numbers in [0, 1]")
        loaded[kind] = np.asarray(values, dtype=np.float64)

    for key in ("name", "formula", "source_hash"):
        if doc.get(key) is not None and not isinstance(doc.get(key), str):
            raise c.fail(key, "expected a string or null")
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        raise c.fail("meta", "expected an object")

    stated = doc.get("checksum")
    if stated != checksum(doc):
        raise c.fail(
            "checksum", "does not match the content: the file was modified after it was written"
        )

    aut.name = doc.get("name")
    aut.formula = doc.get("formula")
    aut.source_hash = doc.get("source_hash")
    aut.meta = {**meta, "potentials": loaded, "vi_gamma": float(vi_gamma)}
    return aut


def _load_classes(c: _Checker, classes: Any, aut: Automaton) -> None:
    n, n_props = aut.n_states, len(aut.props)
    count = c.get(classes, "count", "letter_classes")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise c.fail("letter_classes.count", f"{count!r} is not a positive integer")
    cdd = c.get(classes, "decision_diagram", "letter_classes")
    cvar, clo, chi = c.diagram(cdd, "letter_classes.decision_diagram", n_props, count, "class")
    reps = c.get(classes, "representatives", "letter_classes")
    if not isinstance(reps, list) or len(reps) != count:
        raise c.fail("letter_classes.representatives", f"expected {count} valuations")
    index = aut.prop_index
    rep_vals = np.zeros((count, n_props), dtype=bool)
    for k, rep in enumerate(reps):
        f = f"letter_classes.representatives[{k}]"
        if not isinstance(rep, list):
            raise c.fail(f, "expected a list of proposition names")
        for name in rep:
            if name not in index:
                raise c.fail(f, f"unknown proposition {name!r}")
            rep_vals[k, index[name]] = True
    got = leaves(cvar, clo, chi, np.zeros(count, dtype=np.int64), rep_vals)
    bad = np.flatnonzero(got != np.arange(count))
    if bad.size:
        k = int(bad[0])
        raise c.fail(f"letter_classes.representatives[{k}]", f"falls in class {got[k]}, not {k}")
    rows = c.get(classes, "delta", "letter_classes")
    if not isinstance(rows, list) or len(rows) != n:
        raise c.fail("letter_classes.delta", f"expected {n} rows (one per state)")
    whole = _int_array(rows)
    if whole is not None and whole.shape == (n, count) and whole.size:
        out_of_range = np.argwhere((whole < 0) | (whole >= n))
        if out_of_range.size:
            q, k = (int(x) for x in out_of_range[0])
            raise c.fail(f"letter_classes.delta[{q}][{k}]", f"{whole[q, k]} is not a state")
        delta: np.ndarray = whole.astype(np.int32)
    else:  # find the first bad row, for the message
        delta = np.empty((n, count), dtype=np.int32)
        for q, row in enumerate(rows):
            delta[q] = c.ints(row, f"letter_classes.delta[{q}]", 0, n - 1, length=count)
    # The dense table must agree with the diagram on every class representative.
    check = np.arange(n)
    if n * count > _FULL_CHECK_PAIRS:
        check = np.unique(np.random.default_rng(0).integers(0, n, _FULL_CHECK_PAIRS // count + 1))
    qs = np.repeat(check, count)
    cs = np.tile(np.arange(count), check.size)
    want = leaves(aut.dd_var, aut.dd_lo, aut.dd_hi, aut.roots[qs], rep_vals[cs])
    bad = np.flatnonzero(delta[qs, cs] != want)
    if bad.size:
        q, k = int(qs[bad[0]]), int(cs[bad[0]])
        raise c.fail(
            f"letter_classes.delta[{q}][{k}]",
            f"{delta[q, k]} disagrees with the decision diagram ({want[bad[0]]})",
        )
    aut.class_dd_var = cvar.astype(np.int32)
    aut.class_dd_lo = clo.astype(np.int32)
    aut.class_dd_hi = chi.astype(np.int32)
    aut.delta = delta
