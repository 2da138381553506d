"""Core: the kit's exceptions, the data manifest, file paths and typed YAML configs.

May import: nothing else from ``unisst_lib`` (every other stage builds on this one).
"""
