"""Spec rewards for fine-tuning, with TRL's ``reward_funcs`` signature
``f(prompts, completions, **kwargs) -> list[float]``.

The reward of a completion is read off the monitor state after the whole completion:

- ``"verdict"``: +1 satisfied, +0.5 presumably satisfied, -0.5 presumably violated,
  -1 violated (a violation is never outweighed by anything else in the text);
- ``"potential"``: the shaped potential of the final state (``speclang.compiler.shaping``: 0 at the
  violation sink, 1 where violation is impossible), mapped to [-1, 1], which separates the
  "almost violated" from the "far from it" among non-violating texts.

Every completion format TRL's ``GRPOTrainer`` passes is read: plain strings, and
conversational completions (lists of ``{"role", "content"}`` messages, where a tool call's
``content`` is None and multimodal ``content`` is a list of parts). A spec whose propositions
also read another text observable than the reply (``prompt contains "dose"``) gets the
prompt, or any dataset column TRL passes as a keyword, as that observable's text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

# Separate messages end a sentence: "A" and "b" of two messages are not one sentence "Ab".
_MESSAGE_BREAK = "\n\n"


def _content_text(content: Any) -> str:
    """A message's ``content``: a string, None (a tool call carries no text), or a list of
    content parts of which the text parts count (``{"type": "text", "text": ...}``; images
    and other parts carry no text)."""
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


def _messages_text(messages: Any, roles: tuple[str, ...], what: str) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, dict):
        messages = [messages]
    if isinstance(messages, Sequence):
        odd = next((m for m in messages if not isinstance(m, dict)), None)
        if odd is not None:
            raise TypeError(f"a message is a dict with 'role' and 'content', not "
                            f"{type(odd).__name__}")
        texts = [_content_text(m.get("content")) for m in messages
                 if m.get("role", roles[0]) in roles]
        return _MESSAGE_BREAK.join(t for t in texts if t)
    raise TypeError(f"a {what} is a string or a list of messages, not "
                    f"{type(messages).__name__}")


def completion_text(completion: Any) -> str:
    """The text the model wrote: a plain string, or TRL's conversational form (a list of
    ``{"role", "content"}`` messages, of which the assistant's are joined, each its own
    sentence; tool results are not the model's text; a message without a role is the
    assistant's, as TRL's own reward functions assume)."""
    return _messages_text(completion, ("assistant",), "completion")


def prompt_text(prompt: Any) -> str:
    """The user's text of a prompt: a plain string, or the user messages of a
    conversational prompt (the system prompt is the operator's, not the user's)."""
    return _messages_text(prompt, ("user",), "prompt")


def _context_text(value: Any) -> str:
    """A context observable's text: a prompt (either form), or a dataset column's value."""
    if isinstance(value, str | dict | list | tuple):
        return prompt_text(value)
    return str(value)


def spec_reward(monitor: TextMonitor, kind: str = "verdict", *,
                potential: str = "violation_distance",
                context: Mapping[str, str] | None = None) -> RewardFunc:
    """A reward function for ``monitor``'s spec (its ``__name__`` names the spec, as TRL
    logs rewards by function name).

    ``context`` maps each context observable of the monitor (a text observable its
    propositions read besides the generated one) to the keyword argument whose value
    gives its text per completion: ``"prompts"`` or a dataset column that TRL passes. By
    default a single context observable reads the prompts."""
    if kind not in ("verdict", "potential"):
        raise ValueError(f"kind must be 'verdict' or 'potential', not {kind!r}")
    needed = monitor.labeler.context_observables
    if context is None:
        if len(needed) > 1:
            raise ValueError(f"the spec reads the text observables {', '.join(needed)} besides "
                             "the generated one: say where each comes from "
                             "(context={observable: 'prompts' or a dataset column})")
        context = {obs: "prompts" for obs in needed}
    missing = [obs for obs in needed if obs not in context]
    extra = [obs for obs in context if obs not in needed]
    if missing or extra:
        raise ValueError(f"context must name exactly the observables "
                         f"{', '.join(needed) or '(none)'}, not {', '.join(context) or '(none)'}")
    phi: np.ndarray | None = None
    if kind == "potential":
        from speclang.compiler.shaping import potentials

        phi = potentials(monitor.aut, kind=potential)  # type: ignore[arg-type]

    def columns(prompts: Sequence[Any] | None, n: int,
                kwargs: Mapping[str, Any]) -> dict[str, Sequence[Any]]:
        out = {}
        for obs, source in context.items():
            values = prompts if source == "prompts" else kwargs.get(source)
            if values is None:
                raise ValueError(f"the spec reads {obs!r} from {source!r}, which this call "
                                 f"does not pass")
            if isinstance(values, str) or len(values) != n:
                raise ValueError(f"{source!r} must give one value per completion ({n})")
            out[obs] = values
        return out

    def reward(prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
               **kwargs: Any) -> list[float]:
        given = columns(prompts, len(completions), kwargs) if context else {}
        out = []
        for i, c in enumerate(completions):
            if given:
                monitor.set_context({obs: _context_text(v[i]) for obs, v in given.items()})
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
