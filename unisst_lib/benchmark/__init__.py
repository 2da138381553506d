"""Benchmark: every method on the same cloudy test windows, scores, spectra and the report.

May import: ``core``, ``data``, ``models``, ``evaluation``, ``training``, ``methods``,
``views``.
"""
