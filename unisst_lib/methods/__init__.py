"""Methods: gap-filling methods (baselines, DINEOF, a trained generator) and ``fill`` for any file.

May import: ``core``, ``data``, ``models``, ``evaluation`` (the scores of an ensemble),
``training`` (to load checkpoints).
"""
