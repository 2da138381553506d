"""Methods: gap-filling methods (baselines, DINEOF, a trained generator) and ``fill`` for any file.

May import: ``core``, ``data``, ``models``, ``training`` (to load checkpoints).
"""
