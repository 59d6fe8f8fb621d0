"""The shared vocabulary every layer speaks: keys, the model catalogue, step kinds, the step graph.

Nothing here imports from another omniflow package but ``omniflow.errors``.
"""
