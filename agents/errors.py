"""The errors the agents raise for a problem in the user's input: ``speclang train`` prints
their message (which names the file, and the key where there is one) without a traceback."""

from __future__ import annotations


class AgentError(Exception):
    """A problem with an experiment file, its specs or its run directory."""


class ConfigError(AgentError, ValueError):
    """A bad experiment file; the message names the file and the offending key. One class for
    every algorithm (tabular, DQN, VizDoom PPO), so callers catch one type."""


class ExperimentError(AgentError):
    """A problem with the run directory or the specs (shown to the user without traceback)."""
