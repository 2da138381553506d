"""Evaluation: error metrics on gap pixels and the validation/evaluation loops of a generator.

May import: ``core``, ``data``, ``models``.
"""
