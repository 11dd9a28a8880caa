"""RL agents with progressive safeguards on the Minecraft-inspired gridworld.

``agents.envs``        the gymnasium environment (MiniGrid rendering) and its vectorised twin
``agents.tabular``     batched tabular Q-learning: progressive safeguards and baselines
``agents.transfer``    safety-bias transfer between specs (paper / correspondence / none)
``agents.experiment``  TOML-configured runs with checkpoints, metrics and TensorBoard
``agents.report``      plots and significance tests of a finished run
``agents.dqn``         a small DQN on the product state
"""
