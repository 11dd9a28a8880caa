"""``SafeguardCallback``: Stable-Baselines3's logger gets the safeguard's cost and violation
rates (``safeguard/episode_cost``, ``safeguard/violation_rate``, ...; see
:meth:`speclang.integrations.EpisodeTally.rates`) at the end of every rollout, averaged over
the episodes that ended in it. ``total`` keeps the whole run's tally.

    model.learn(10_000, callback=SafeguardCallback())
"""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from . import EPISODE_KEY, EpisodeTally


class SafeguardCallback(BaseCallback):
    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.window = EpisodeTally()
        self.total = EpisodeTally()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get(EPISODE_KEY)
            if episode is not None:
                self.window.add(episode)
                self.total.add(episode)
        return True

    def _on_rollout_end(self) -> None:
        for key, value in self.window.rates().items():
            self.logger.record(key, value)
        self.window.clear()


__all__ = ["SafeguardCallback"]
