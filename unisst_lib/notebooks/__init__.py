"""Notebooks: the Jupyter kernel, the papermill runner, the threshold sweep and notebook helpers.

Modules: ``locations`` (where the notebooks are; ``NotebookError``), ``kernel``
(the ``unisst`` Jupyter kernel), ``params`` (notebook parameters and parameter
files), ``runner`` (headless papermill runs), ``sweep`` (LWP-threshold sweeps),
``helpers`` and ``training_view`` (what the notebooks call, as ``nb`` and ``tv``).

May import: every stage above (it is the top of the library; only ``cli`` builds on it).
"""
