"""Core utilities every layer may use: errors, the version, atomic file writing, hashing, JSON.

Nothing here imports any other part of sinkscope (the lowest layer of the import contract).
"""
