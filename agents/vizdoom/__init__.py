"""Pixel-level control in ViZDoom trained against compiled safeguards (see docs/vizdoom.md).

``import agents.vizdoom`` stays cheap: vizdoom and torch load inside the submodules.
"""
