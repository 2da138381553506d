"""Notebook parameters: what a notebook declares, and what it is given.

Parameters come from Python, from a small YAML file (:func:`load_parameter_file`)
or from ``NAME=VALUE`` pairs on the command line (:func:`parse_assignments`).
A notebook only receives the parameters its ``parameters`` cell declares
(:func:`parameters_for`); a common parameter that no notebook declares is a
typo (:func:`check_used`). Parameter names that look like credentials are
refused (:func:`check_no_credentials`): they would end up in the executed copies.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisst_lib.core.config import read_yaml_mapping
from unisst_lib.notebooks.locations import NotebookError, notebook_path

CREDENTIAL_WORDS = ("password", "passwd", "token", "secret", "credential", "apikey", "api_key")
"""Parameter names containing one of these are refused."""

PARAMETER_FILE_KEYS = frozenset({"parameters", "overrides", "notebooks", "thresholds", "out"})
"""The top-level keys a parameter file may have."""


def notebook_parameters(name: str, directory: str | os.PathLike[str] | None = None) -> dict:
    """What a notebook's ``parameters`` cell declares: name -> {default, help}."""
    path = notebook_path(name, directory).resolve()
    return dict(_declared(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _declared(path: str, mtime_ns: int) -> dict:
    """papermill's reading of a parameters cell (cached per file version: it parses the JSON)."""
    import papermill as pm

    pm_log = logging.getLogger("papermill")
    level = pm_log.level
    pm_log.setLevel(logging.WARNING)  # inspect_notebook logs the path at INFO every time
    try:
        params = pm.inspect_notebook(path)
    finally:
        pm_log.setLevel(level)
    return {k: {"default": v["default"], "help": v["help"]} for k, v in params.items()}


def check_no_credentials(names: Iterable[str]) -> None:
    """Refuse parameter names that look like credentials (they would be saved in outputs)."""
    bad = [n for n in names if any(w in n.lower().replace("-", "_") for w in CREDENTIAL_WORDS)]
    if bad:
        raise NotebookError(
            f"parameter(s) {', '.join(bad)} look like credentials: parameters are written into "
            "the executed notebooks. Keep credentials in the environment or a config file "
            "that the library reads (never a notebook parameter)."
        )


def plain_value(value: Any) -> Any:
    """A parameter value papermill can write as a Python literal (paths become strings).

    >>> plain_value({"run": Path("runs/x"), "frames": (0, 12)})
    {'run': 'runs/x', 'frames': [0, 12]}
    """
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple | list):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    return value


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """``["steps=40", "config=tiny", "frames=[0, 12]"]`` -> dict; values are read as YAML.

    >>> parse_assignments(["steps=40", "data_dir=null", "config=tiny"])
    {'steps': 40, 'data_dir': None, 'config': 'tiny'}
    """
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise NotebookError(f"parameter {pair!r} is not NAME=VALUE (e.g. steps=40)")
        try:
            out[name] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:  # not YAML (`title=a: b`): the text as it was typed
            out[name] = raw
    return out


@dataclass
class ParameterFile:
    """A parameter file (YAML).

    Keys (all optional)::

        parameters:          # to every notebook whose parameters cell declares the name
          data_dir: null
          steps: 40
        overrides:           # to one notebook only
          04_visualisation: {make_gif: false}
        notebooks: [03_training, 04_visualisation]
        thresholds: [55, 60, 65, 70, 75, 80]   # unisst sweep only
        out: runs/sweep
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    notebooks: tuple[str, ...] | None = None
    thresholds: tuple[float, ...] | None = None
    out: str | None = None


def load_parameter_file(path: str | os.PathLike[str]) -> ParameterFile:
    """Read a :class:`ParameterFile` from YAML, with clear errors for typos and wrong types."""
    path = Path(path)
    raw = _read_yaml_mapping(path)
    unknown = sorted(set(raw) - PARAMETER_FILE_KEYS)
    if unknown:
        raise NotebookError(
            f"{path}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(PARAMETER_FILE_KEYS))}); "
            "notebook parameters go under `parameters:`"
        )
    params = raw.get("parameters") or {}
    overrides = raw.get("overrides") or {}
    if not isinstance(params, dict) or not isinstance(overrides, dict):
        raise NotebookError(f"{path}: `parameters` and `overrides` must be mappings")
    for name, values in overrides.items():
        if not isinstance(values, dict):
            raise NotebookError(f"{path}: overrides.{name} must be a mapping of parameters")
    notebooks = raw.get("notebooks")
    return ParameterFile(
        parameters=dict(params),
        overrides={str(k): dict(v) for k, v in overrides.items()},
        notebooks=tuple(str(n) for n in notebooks) if notebooks is not None else None,
        thresholds=_thresholds(path, raw.get("thresholds")),
        out=str(raw["out"]) if raw.get("out") is not None else None,
    )


def _read_yaml_mapping(path: Path) -> dict:
    """The YAML mapping in ``path`` (an empty file is an empty mapping)."""
    return read_yaml_mapping(
        path, what="parameter file", error=NotebookError, empty_ok=True,
        expected="a mapping (parameters:, overrides:, …)",
    )  # fmt: skip


def _thresholds(path: Path, thresholds: Any) -> tuple[float, ...] | None:
    """The ``thresholds:`` list of a parameter file as floats (g m-2), or None when absent."""
    if thresholds is None:
        return None
    try:
        return tuple(float(t) for t in thresholds)
    except (TypeError, ValueError) as err:
        raise NotebookError(f"{path}: thresholds must be a list of numbers (g m-2)") from err


def parameters_for(
    name: str,
    common: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The parameters one notebook gets: the ``common`` ones it declares, then its overrides.

    Raises
    ------
    NotebookError
        An override names a parameter the notebook does not declare.
    """
    stem = notebook_path(name, directory).stem
    declared = notebook_parameters(stem, directory)
    out = {k: v for k, v in common.items() if k in declared}
    mine = dict((overrides or {}).get(stem, {}))
    unknown = sorted(set(mine) - set(declared))
    if unknown:
        raise NotebookError(
            f"notebook {stem} has no parameter(s) {', '.join(unknown)} "
            f"(it has: {', '.join(declared)})",
            notebook=stem,
        )
    out.update(mine)
    return out


def normalise_overrides(
    overrides: Mapping[str, Mapping[str, Any]] | None,
    directory: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Key overrides by full notebook name (``04`` -> ``04_visualisation``); unknown names raise."""
    return {notebook_path(k, directory).stem: dict(v) for k, v in (overrides or {}).items()}


def check_used(
    common: Mapping[str, Any],
    names: Sequence[str],
    directory: str | os.PathLike[str] | None = None,
    ignore: Iterable[str] = (),
) -> None:
    """Refuse common parameters that none of the notebooks declares (a typo)."""
    declared: set[str] = set()
    for n in names:
        declared |= set(notebook_parameters(n, directory))
    unused = sorted(set(common) - declared - set(ignore))
    if unused:
        raise NotebookError(
            f"no notebook among {', '.join(names)} has parameter(s) {', '.join(unused)} "
            f"(known: {', '.join(sorted(declared))})"
        )


def demo_parameters(
    *,
    size: str = "full",
    data_dir: str | os.PathLike[str] | None = None,
    steps: int = 40,
    readme_figure: str = "docs/unisst_demo.png",
    run_dir: str | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(common parameters, per-notebook overrides) of ``make demo``.

    The ``fast`` config (``tiny`` for the tiny twin) trained for ``steps`` steps
    into ``run_dir`` (default ``runs/demo``, ``runs/demo_tiny``), evaluated four
    times on the way on 10 validation sequences; ``04_visualisation`` maps that run's
    ``best.pt`` (never the bundled model or an older run) and saves the README picture;
    ``06_your_own_archive`` fits its models for ``steps`` steps each (not its 10-minute
    default budget, twice).
    """
    config = "tiny" if size == "tiny" else "fast"
    run_dir = run_dir or ("runs/demo_tiny" if size == "tiny" else "runs/demo")
    common: dict[str, Any] = {
        "data_dir": None if data_dir is None else os.fspath(data_dir),
        "device": "auto",
        "threshold_gm2": 70.0,
    }
    overrides = {
        "01_download": {"twin_size": size},
        "03_training": {
            "config": config,
            "steps": int(steps),
            "run_dir": run_dir,
            "eval_every": max(1, int(steps) // 4),
            "val_sequences": 10,
        },
        "04_visualisation": {  # the model 03 just trained (its line says which, and when)
            "checkpoint": f"{run_dir}/checkpoints/best.pt",
            "readme_figure": readme_figure,
        },
        "06_your_own_archive": {"twin_size": size, "fit_steps": int(steps)},
    }
    return common, overrides
