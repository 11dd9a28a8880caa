"""Runtime safeguards: compiled spec monitors attached to RL environments.

Heavy modules (gymnasium, torch) load on first use, so ``import runtime`` stays cheap.
"""

from __future__ import annotations

if __name__ != "speclang.runtime":  # a bare `runtime` would load every module a second time
    raise ImportError(
        "speclang's runtime package is imported as `speclang.runtime`, not `runtime` "
        "(the bare name is not installed; run from a checkout, it would load every module twice)"
    )

from typing import TYPE_CHECKING, Any

from .batched import BatchedMonitor
from .envs.minigrid import MiniGridLabeler
from .envs.vizdoom import VizDoomLabeler
from .labelers import (
    Binding,
    CallableLabeler,
    InfoLabeler,
    LabelingError,
    MissingBindingError,
)
from .progression import SpecStats

__all__ = [
    "ActionShield",
    "BatchedMonitor",
    "Binding",
    "CallableLabeler",
    "CounterfactualExperience",
    "InfoLabeler",
    "LabelingError",
    "MiniGridLabeler",
    "MissingBindingError",
    "MonitorObservation",
    "SafeguardReward",
    "SafeguardVectorWrapper",
    "SafeguardWrapper",
    "SpecMonitor",
    "SpecStats",
    "ViolationHandler",
    "VizDoomLabeler",
    "labelers",
]

if TYPE_CHECKING:  # type checkers and editors see the lazily loaded names (gymnasium, torch)
    from .crm import CounterfactualExperience
    from .monitor import SpecMonitor
    from .observation import MonitorObservation
    from .reward import SafeguardReward
    from .shield import ActionShield
    from .vector import SafeguardVectorWrapper
    from .violation import ViolationHandler
    from .wrapper import SafeguardWrapper

_LAZY = {
    "SafeguardWrapper": ("speclang.runtime.wrapper", "SafeguardWrapper"),
    "SafeguardVectorWrapper": ("speclang.runtime.vector", "SafeguardVectorWrapper"),
    # The single-concern wrappers SafeguardWrapper is made of.
    "SpecMonitor": ("speclang.runtime.monitor", "SpecMonitor"),
    "ViolationHandler": ("speclang.runtime.violation", "ViolationHandler"),
    "SafeguardReward": ("speclang.runtime.reward", "SafeguardReward"),
    "MonitorObservation": ("speclang.runtime.observation", "MonitorObservation"),
    "ActionShield": ("speclang.runtime.shield", "ActionShield"),
    "CounterfactualExperience": ("speclang.runtime.crm", "CounterfactualExperience"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'runtime' has no attribute {name!r}")
