"""JSON forms of the safeguard wrappers' constructor arguments.

gymnasium re-creates a wrapped environment from ``env.spec`` (``gym.make(env.spec)``) and
writes it out with ``env.spec.to_json()``; both need the wrapper's recorded arguments as plain
JSON. Automata are stored as their compiled artifacts (``speclang.compiler.artifact``, the same
documents ``speclang compile`` writes), not as the objects or the formulas they came from;
a ``(module, name)`` spec is stored as the automata it compiled to and the module's derived
propositions. The wrappers accept every form written here wherever they take the object.

>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.labelers import InfoLabeler
>>> aut = automaton_from_function(["lava"], 2, lambda q, v: int(q or v["lava"]),
...                               accepting=[True, False], name="no_lava")
>>> doc = spec_to_json(aut)
>>> doc["speclang_spec"], list(doc["automata"])
('artifacts', ['no_lava'])
>>> back = spec_from_json(doc)["no_lava"]
>>> back.step(0, {"lava"}), back.n_states
(1, 2)
>>> labeler_to_json(InfoLabeler({"lava": "hazard"}))
{'speclang_labeler': 'info', 'mapping': {'lava': 'hazard'}, 'defaults': {}}
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton

SPEC_KEY = "speclang_spec"
LABELER_KEY = "speclang_labeler"
PREDICTOR_KEY = "speclang_predictor"


def is_spec_json(value: Any) -> bool:
    return isinstance(value, Mapping) and SPEC_KEY in value


def spec_to_json(spec: Any, derived: Mapping[str, Any] | None = None) -> Any:
    """``{"speclang_spec": "artifacts", "automata": {name: artifact}, "derived": {...}}`` for
    anything :func:`speclang.runtime.progression.resolve` accepts (an already-JSON spec is
    returned as it is)."""
    if is_spec_json(spec):
        return spec
    from speclang.compiler import artifact

    from .progression import resolve

    specset = resolve(spec, None)
    doc: dict[str, Any] = {
        SPEC_KEY: "artifacts",
        "automata": {n: artifact.to_json(a, guards=False) for n, a in specset.specs.items()},
    }
    if specset.module is not None:
        doc["derived"] = derived_to_json(specset.derived)
    return doc


def spec_from_json(doc: Mapping[str, Any]) -> dict[str, Automaton]:
    """The ``{name: Automaton}`` progression of :func:`spec_to_json`'s document."""
    from speclang.compiler import artifact

    if doc.get(SPEC_KEY) != "artifacts" or not isinstance(doc.get("automata"), Mapping):
        raise ValueError(
            f'a JSON spec must be {{"{SPEC_KEY}": "artifacts", "automata": {{name: artifact}}}}'
        )
    out = {}
    for name, art in doc["automata"].items():
        aut = artifact.from_json(art, source=f"spec {name!r}")
        aut.name = name
        out[name] = aut
    return out


def derived_to_json(derived: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{prop: [observable, op, value]}``; entries that are not comparisons stay as given."""
    if derived is None:
        return None
    out: dict[str, Any] = {}
    for prop, c in derived.items():
        if isinstance(c, (tuple, list)) and len(c) == 3:
            out[prop] = [c[0], c[1], _plain(c[2])]
        elif all(hasattr(c, a) for a in ("observable", "op", "value")):
            out[prop] = [c.observable, c.op, _plain(c.value)]
        else:
            out[prop] = c
    return out


def derived_from_json(derived: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if derived is None:
        return None
    return {p: tuple(c) if isinstance(c, list) and len(c) == 3 else c for p, c in derived.items()}


def labeler_to_json(labeler: Any) -> Any:
    """A labeler's JSON form, or the labeler itself when it has none (a ``CallableLabeler``
    has one only when its function is importable by module and name)."""
    from .envs.minigrid import MiniGridLabeler
    from .envs.vizdoom import VIZDOOM_VARIABLES, VizDoomLabeler
    from .labelers import CallableLabeler, CombinedLabeler, InfoLabeler

    if isinstance(labeler, Mapping):
        return labeler
    kind = type(labeler)
    if kind is InfoLabeler:
        return {LABELER_KEY: "info", "mapping": dict(labeler.mapping),
                "defaults": {k: _plain(v) for k, v in labeler.defaults.items()}}
    if kind is MiniGridLabeler:
        return {LABELER_KEY: "minigrid", "view": labeler.view}
    if kind is VizDoomLabeler:
        extra = {k: v for k, v in labeler.variables.items() if VIZDOOM_VARIABLES.get(k) != v}
        return {LABELER_KEY: "vizdoom", "variables": extra, "objects": dict(labeler.objects)}
    if kind is CallableLabeler:
        ref = _reference(labeler.fn)
        if ref is None:
            return labeler
        return {LABELER_KEY: "callable", "fn": ref, "action": labeler.action,
                "names": None if labeler.names is None else sorted(labeler.names)}
    if kind is CombinedLabeler:
        parts = [labeler_to_json(p) for p in labeler.parts]
        if any(not isinstance(p, Mapping) for p in parts):
            return labeler
        return {LABELER_KEY: "combined", "parts": parts}
    return labeler


def labeler_from_json(doc: Any) -> Any:
    """The labeler of :func:`labeler_to_json`'s document (anything else is returned as is)."""
    if not (isinstance(doc, Mapping) and LABELER_KEY in doc):
        return doc
    from .labelers import CallableLabeler, CombinedLabeler, InfoLabeler

    kind = doc[LABELER_KEY]
    if kind == "info":
        return InfoLabeler(doc["mapping"], doc.get("defaults"))
    if kind == "minigrid":
        from .envs.minigrid import MiniGridLabeler

        return MiniGridLabeler(doc.get("view", "after"))
    if kind == "vizdoom":
        from .envs.vizdoom import VizDoomLabeler

        return VizDoomLabeler(variables=doc.get("variables"), objects=doc.get("objects"))
    if kind == "callable":
        module, _, name = doc["fn"].partition(":")
        fn: Any = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        return CallableLabeler(fn, doc.get("names"), action=bool(doc.get("action", False)))
    if kind == "combined":
        return CombinedLabeler(*(labeler_from_json(p) for p in doc["parts"]))
    raise ValueError(f"unknown labeler kind {kind!r} in {dict(doc)}")


def predictor_to_json(predictor: Any) -> Any:
    from .envs.minigrid import MiniGridPredictor

    if type(predictor) is MiniGridPredictor:
        lab = labeler_to_json(predictor.labeler)
        if isinstance(lab, Mapping):
            return {PREDICTOR_KEY: "minigrid", "labeler": lab}
    return predictor


def predictor_from_json(doc: Any) -> Any:
    if not (isinstance(doc, Mapping) and PREDICTOR_KEY in doc):
        return doc
    if doc[PREDICTOR_KEY] != "minigrid":
        raise ValueError(f"unknown predictor kind {doc[PREDICTOR_KEY]!r}")
    from .envs.minigrid import MiniGridPredictor

    return MiniGridPredictor(labeler_from_json(doc["labeler"]))


def kwargs_to_json(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A safeguard wrapper's recorded constructor arguments in JSON form (see the module
    docstring); arguments without one stay as they are."""
    out = dict(kwargs)
    if "spec" in out:  # a module's derived propositions travel inside the spec document
        out["spec"] = spec_to_json(out["spec"])
    if "derived" in out:
        out["derived"] = derived_to_json(out["derived"])
    if "labeler" in out:
        out["labeler"] = labeler_to_json(out["labeler"])
    if out.get("shield") is not None:
        out["shield"] = predictor_to_json(out["shield"])
    if "potentials" in out:
        out["potentials"] = _plain(out["potentials"])
    return out


def _reference(fn: Any) -> str | None:
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "<" in qualname:
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if obj is fn else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
