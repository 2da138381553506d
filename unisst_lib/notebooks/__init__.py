"""Notebooks: the Jupyter kernel, the papermill runner, the threshold sweep and notebook helpers.

May import: every stage above (it is the top of the library; only ``cli`` builds on it).
"""
