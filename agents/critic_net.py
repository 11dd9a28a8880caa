"""The deep safety critic's pieces shared by the DQN and the VizDoom PPO.

A deep critic outputs logits ``[batch, horizon, actions]``: entry ``[b, h, a]`` estimates the
probability of reaching the active monitor's violation sink within ``h + 1`` steps after
action ``a``, when every later step takes the safest action. It is trained by the
finite-horizon TD rule of :mod:`speclang.agents.critic` (the tabular critic's), here as a
binary cross-entropy against targets from a target copy. Each learner builds its own trunk
(an MLP on the gridworld's product vector, a CNN on VizDoom frames); the output layer, the
loss and the danger read off the logits are the same.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def danger_layer(n_inputs: int, horizon: int, n_actions: int, init: float) -> nn.Linear:
    """The critic's output layer, ``horizon * n_actions`` logits, its bias at
    ``logit(init)``: an untrained critic reports a small prior danger everywhere, so a shield
    on it blocks nothing until verdicts say otherwise."""
    layer = nn.Linear(n_inputs, horizon * n_actions)
    with torch.no_grad():
        layer.bias.fill_(math.log(init / (1.0 - init)))
    return layer


def danger(logits: torch.Tensor) -> torch.Tensor:
    """``D(x, a)`` ``[batch, actions]``: the probability at the longest horizon."""
    return torch.sigmoid(logits[:, -1, :])


def critic_td_loss(logits: torch.Tensor, actions: torch.Tensor, next_logits: torch.Tensor,
                   entered_sink: torch.Tensor, ended: torch.Tensor,
                   weight: torch.Tensor | None = None) -> torch.Tensor:
    """The TD loss on one batch: ``logits`` ``[B, H, A]`` of the critic at the transitions'
    inputs, ``next_logits`` of its target copy at the next inputs; targets
    ``target_1 = sink``, ``target_h = 1`` on the sink, 0 once the episode ended otherwise,
    else ``min_a' C_target[h-1](x', a')``. ``weight`` ``[B]`` weighs the transitions (0
    drops one, importance weights correct a non-uniform draw): the weighted mean."""
    horizon = logits.shape[1]
    with torch.no_grad():
        nxt = torch.sigmoid(next_logits)
        onward = nxt[:, :-1, :].min(dim=2).values * (1.0 - ended[:, None])
        tail = torch.where(entered_sink[:, None] > 0, torch.ones_like(onward), onward)
        goal = torch.cat([entered_sink[:, None], tail], dim=1)
    taken = logits.gather(2, actions[:, None, None].expand(-1, horizon, 1)).squeeze(2)
    if weight is None:
        return nn.functional.binary_cross_entropy_with_logits(taken, goal)
    bce = nn.functional.binary_cross_entropy_with_logits(taken, goal, reduction="none")
    return (bce * weight[:, None]).sum() / (weight.sum() * horizon).clamp(min=1.0)
