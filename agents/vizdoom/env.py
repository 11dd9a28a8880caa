"""A headless ViZDoom gymnasium environment for pixel-level agents under safeguards.

Observations are ``frame_stack`` downscaled grayscale frames, uint8 ``(k, H, W)``. The
``info`` dict of every step carries the game variables by their ``runtime.VizDoomLabeler``
names (``health``, ``pos_x``, ``pos_y``, ``damage_taken``) and this step's pickups:

``medkit``
    health was restored this step: ``d(HEALTH) + d(DAMAGE_TAKEN) > 0`` (damage taken is
    added back so that an acid tick in the same step does not hide the medkit; a medkit
    picked up at full health restores nothing and is not seen).
``poison``
    more than ``POISON_DAMAGE`` damage was taken this step (acid costs 8 per tick and at
    most one tick falls in a step of <= 32 tics; a vial costs 30).

``objects`` lists the lower-case names of the objects in the labels buffer, and
``sees_<object>`` is true for each of them (false for any other: ``info`` is a
:class:`StepInfo`).

``scenario_reward`` is the scenario's own reward of the step (+1 per tic alive, -100 on
death), whatever the agent is paid (``task_reward``) and before ``reward_scale``.

``env.unwrapped.game`` is a :class:`CachedGame`: it answers ``get_state()`` from the state
the environment already fetched for this step, so a labeler reading the game costs no
second copy of the screen buffers.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Discrete actions over the scenario's buttons (TURN_LEFT, TURN_RIGHT, MOVE_FORWARD).
ACTIONS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("forward", (0, 0, 1)),
    ("forward_left", (1, 0, 1)),
    ("forward_right", (0, 1, 1)),
    ("turn_left", (1, 0, 0)),
    ("turn_right", (0, 1, 0)),
)
SCENARIOS = ("health_gathering_supreme", "health_gathering")
# What the agent is paid (before ``reward_scale``): "scenario" is the scenario's own +1 per
# tic alive and -100 on death; "medkits" is +1 per medkit picked up, which rewards the same
# behaviour (health keeps the player alive) without a delay of hundreds of tics.
TASK_REWARDS = ("scenario", "medkits")
# Game variables added to the scenario's own (HEALTH) so specs can bind them.
EXTRA_VARIABLES = ("POSITION_X", "POSITION_Y", "DAMAGE_TAKEN")
POISON_DAMAGE = 20.0
# Screen of 160x120 pixels averaged over 2x2 (or 4x4) blocks: exact, and cheap in numpy.
DOWNSCALES = (1, 2, 4)


class StepInfo(dict):
    """A step's ``info``: ``sees_<object>`` is true for the objects on screen (lower-case
    names from the labels buffer) and reads as false for any other object."""

    def __missing__(self, key: str) -> bool:
        if isinstance(key, str) and key.startswith("sees_"):
            return False
        raise KeyError(key)


class CachedGame:
    """A ``vizdoom.DoomGame`` whose ``get_state()`` returns the state of the current step
    (fetched once by the environment); everything else goes to the game itself."""

    def __init__(self, game: Any) -> None:
        self._game = game
        self.state: Any = None

    def refresh(self) -> Any:
        self.state = None if self._game.is_episode_finished() else self._game.get_state()
        return self.state

    def get_state(self) -> Any:
        return self.state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._game, name)


class VizDoomEnv(gym.Env):
    """Health gathering (supreme) from the vizdoom wheel, headless.

    Args:
        scenario: one of ``SCENARIOS``.
        frame_skip: tics per step (the action is repeated).
        frame_stack: frames per observation.
        downscale: block size of the pixel averaging (120x160 -> 60x80 for 2).
        reward_scale: multiplies the task reward.
        task_reward: one of ``TASK_REWARDS``; ``info["scenario_reward"]`` always carries
            the scenario's own reward, whatever the agent is paid.
        episode_timeout: tics before truncation (default: the scenario's 2100).
        render_mode: ``"rgb_array"`` keeps colour frames for :meth:`render`.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 35}

    def __init__(
        self,
        scenario: str = "health_gathering_supreme",
        *,
        frame_skip: int = 4,
        frame_stack: int = 4,
        downscale: int = 2,
        reward_scale: float = 1.0,
        task_reward: str = "scenario",
        episode_timeout: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        import vizdoom as vzd

        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}; got {scenario!r}")
        if downscale not in DOWNSCALES:
            raise ValueError(f"downscale must be one of {DOWNSCALES}; got {downscale}")
        if task_reward not in TASK_REWARDS:
            known = ", ".join(TASK_REWARDS)
            raise ValueError(f"task_reward must be one of {known}; got {task_reward!r}")
        if frame_skip < 1 or frame_stack < 1:
            raise ValueError("frame_skip and frame_stack must be >= 1")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array'; got {render_mode!r}")
        self.scenario = scenario
        self.frame_skip = frame_skip
        self.frame_stack = frame_stack
        self.downscale = downscale
        self.reward_scale = float(reward_scale)
        self.task_reward = task_reward
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": max(1, 35 // frame_skip)}
        game = vzd.DoomGame()
        game.load_config(os.path.join(vzd.scenarios_path, f"{scenario}.cfg"))
        game.set_window_visible(False)
        # ViZDoom writes its settings file into the working directory unless told otherwise.
        game.set_doom_config_path(
            os.path.join(tempfile.gettempdir(), f"speclang-vizdoom-{os.getpid()}.ini")
        )
        game.set_sound_enabled(False)
        game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
        # Colour only when someone will watch; the agent sees luminance either way.
        rgb = render_mode == "rgb_array"
        game.set_screen_format(vzd.ScreenFormat.RGB24 if rgb else vzd.ScreenFormat.GRAY8)
        game.set_labels_buffer_enabled(True)
        for name in EXTRA_VARIABLES:
            game.add_available_game_variable(getattr(vzd.GameVariable, name))
        if episode_timeout is not None:
            game.set_episode_timeout(int(episode_timeout))
        game.set_mode(vzd.Mode.PLAYER)
        game.init()
        self._raw = game
        self.game = CachedGame(game)
        self._var_index = {
            str(v).split(".")[-1]: i for i, v in enumerate(game.get_available_game_variables())
        }
        self._buttons = [list(a) for _, a in ACTIONS]
        h, w = 120 // downscale, 160 // downscale
        self.observation_space = spaces.Box(0, 255, (frame_stack, h, w), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(ACTIONS))
        self._frames = np.zeros((frame_stack, h, w), dtype=np.uint8)
        self._last_vars = np.zeros(len(self._var_index))
        self._last_rgb: np.ndarray | None = None
        self._last_objects: list[str] = []

    # --- helpers -------------------------------------------------------------------------

    def _frame(self, screen: np.ndarray) -> np.ndarray:
        if screen.ndim == 3:  # RGB24, HWC
            self._last_rgb = screen
            screen = (screen @ np.array([0.299, 0.587, 0.114])).astype(np.float32)
        d = self.downscale
        if d == 1:
            return np.asarray(screen, dtype=np.uint8)
        h, w = screen.shape
        blocks = screen.reshape(h // d, d, w // d, d).astype(np.float32)
        return blocks.mean(axis=(1, 3)).astype(np.uint8)

    def _variables(self, gv: np.ndarray) -> dict[str, float]:
        ix = self._var_index
        return {
            "health": float(gv[ix["HEALTH"]]),
            "pos_x": float(gv[ix["POSITION_X"]]),
            "pos_y": float(gv[ix["POSITION_Y"]]),
            "damage_taken": float(gv[ix["DAMAGE_TAKEN"]]),
        }

    def _observe(self, state: Any, first: bool) -> dict[str, Any]:
        gv = np.asarray(state.game_variables, dtype=np.float64)
        frame = self._frame(state.screen_buffer)
        if first:
            self._frames[:] = frame
        else:
            self._frames[:-1] = self._frames[1:]
            self._frames[-1] = frame
        info = StepInfo(self._variables(gv))
        if first:
            info["medkit"] = info["poison"] = False
        else:
            prev = self._variables(self._last_vars)
            damage = info["damage_taken"] - prev["damage_taken"]
            info["medkit"] = info["health"] - prev["health"] + damage > 0
            info["poison"] = damage > POISON_DAMAGE
        objects = {str(lab.object_name).lower() for lab in state.labels}
        info["objects"] = self._last_objects = sorted(objects)
        for name in objects:
            info[f"sees_{name}"] = True
        self._last_vars = gv
        return info

    # --- gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._raw.set_seed(int(seed) % (2**31))
        self._raw.new_episode()
        state = self.game.refresh()
        info = self._observe(state, first=True)
        return self._frames.copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reward = self._raw.make_action(self._buttons[int(action)], self.frame_skip)
        state = self.game.refresh()
        if state is None:
            # The episode ended inside this step: the last observation is kept, the pickups
            # of the final tics are unknown (the game no longer reports variables).
            # Variables and objects in view keep their last values, as
            # runtime.VizDoomLabeler does once the game stops reporting them.
            info: dict[str, Any] = StepInfo(self._variables(self._last_vars))
            info["medkit"] = info["poison"] = False
            info["objects"] = self._last_objects
            for name in self._last_objects:
                info[f"sees_{name}"] = True
            dead = bool(self._raw.is_player_dead())
            terminated, truncated = dead, not dead
        else:
            info = self._observe(state, first=False)
            terminated = truncated = False
        info["scenario_reward"] = float(reward)
        task = float(info["medkit"]) if self.task_reward == "medkits" else float(reward)
        return self._frames.copy(), task * self.reward_scale, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._last_rgb is None:
            return np.zeros((120, 160, 3), dtype=np.uint8)
        return self._last_rgb.copy()

    def close(self) -> None:
        self._raw.close()
