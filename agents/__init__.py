"""RL agents with progressive safeguards on the Minecraft-inspired gridworld.

``speclang.agents.envs``        the gymnasium environment (MiniGrid rendering), vectorised twin
``speclang.agents.tabular``     batched tabular Q-learning: progressive safeguards and baselines
``speclang.agents.transfer``    safety-bias transfer between specs (paper / correspondence / none)
``speclang.agents.critic``      the learned safety critic on the product and its transfer
``speclang.agents.critic_net``  the deep safety critic's output layer and TD loss (DQN, PPO)
``speclang.agents.experiment``  TOML-configured runs with checkpoints, metrics and TensorBoard
``speclang.agents.report``      plots and significance tests of a finished run
``speclang.agents.dqn``         a small DQN on the product state
``speclang.agents.randpol``     policy iteration with randomised networks on the product state
"""

if __name__ != "speclang.agents":  # a bare `agents` would load every module a second time
    raise ImportError(
        "speclang's agents package is imported as `speclang.agents`, not `agents` "
        "(the bare name is not installed; run from a checkout, it would load every module twice)"
    )
