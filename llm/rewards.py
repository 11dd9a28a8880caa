"""Spec rewards for fine-tuning, with TRL's ``reward_funcs`` signature
``f(prompts, completions, **kwargs) -> list[float]``.

The reward of a completion is read off the monitor state after the whole completion:

- ``"verdict"``: +1 satisfied, +0.5 presumably satisfied, -0.5 presumably violated,
  -1 violated (a violation is never outweighed by anything else in the text);
- ``"potential"``: the shaped potential of the final state (``speclang.compiler.shaping``: 0 at the
  violation sink, 1 where violation is impossible), mapped to [-1, 1], which separates the
  "almost violated" from the "far from it" among non-violating texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from speclang.compiler.automaton import Verdict
from speclang.llm.monitor import TextMonitor

VERDICT_REWARD = {
    Verdict.SATISFIED: 1.0,
    Verdict.PRESUMABLY_SATISFIED: 0.5,
    Verdict.PRESUMABLY_VIOLATED: -0.5,
    Verdict.VIOLATED: -1.0,
}

RewardFunc = Callable[..., list[float]]


def _content_text(content: Any) -> str:
    """A message's ``content``: a string, None (a tool call carries no text), or a list of
    content parts of which the text parts count (``{"type": "text", "text": ...}``)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(p if isinstance(p, str) else str(p.get("text") or "")
                       for p in content if isinstance(p, str) or (
                           isinstance(p, dict) and p.get("type", "text") == "text"))
    raise TypeError(f"a message's content is a string, None or a list of parts, not "
                    f"{type(content).__name__}")


def completion_text(completion: Any) -> str:
    """A plain string, or TRL's conversational form (a list of ``{"role", "content"}``
    messages, of which the assistant's are joined; ``content`` may be None, as for tool
    calls, or a list of content parts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, Sequence):
        return "".join(_content_text(m.get("content")) for m in completion
                       if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    raise TypeError(f"a completion is a string or a list of messages, not "
                    f"{type(completion).__name__}")


def spec_reward(monitor: TextMonitor, kind: str = "verdict", *,
                potential: str = "violation_distance") -> RewardFunc:
    """A reward function for ``monitor``'s spec (its ``__name__`` names the spec, as TRL
    logs rewards by function name)."""
    if kind not in ("verdict", "potential"):
        raise ValueError(f"kind must be 'verdict' or 'potential', not {kind!r}")
    phi: np.ndarray | None = None
    if kind == "potential":
        from speclang.compiler.shaping import potentials

        phi = potentials(monitor.aut, kind=potential)  # type: ignore[arg-type]

    def reward(prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
               **kwargs: Any) -> list[float]:
        out = []
        for c in completions:
            monitor.reset(1)
            monitor.feed(0, completion_text(c))
            monitor.finish(0)
            q = monitor.state(0)
            if phi is None:
                out.append(VERDICT_REWARD[monitor.aut.verdict(q)])
            else:
                out.append(float(2.0 * phi[q] - 1.0))
        return out

    reward.__name__ = f"{monitor.aut.name or 'spec'}_{kind}"
    return reward
