"""Environment adapters: labelers (and predictors) for specific environment families.

``minigrid`` (:class:`~speclang.runtime.envs.minigrid.MiniGridLabeler`, the shield's
:class:`~speclang.runtime.envs.minigrid.MiniGridPredictor`) and ``vizdoom``
(:class:`~speclang.runtime.envs.vizdoom.VizDoomLabeler`). Neither imports its environment
package at import time.
"""
