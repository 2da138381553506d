"""The numbered notebooks: headless runs with papermill, LWP-threshold sweeps, and helpers.

Running notebooks
-----------------
:func:`run_notebook` executes one of ``notebooks/NN_name.ipynb`` with papermill
on the ``unisst`` Jupyter kernel (:func:`ensure_kernel` registers it for the
running interpreter, so papermill and JupyterLab use this environment), with
parameters injected after the cell tagged ``parameters``, and writes the
executed copy into an output folder. A failing cell raises
:class:`NotebookError`, which names the cell and the error. :func:`run_all`
runs several and reports each; :func:`sweep` runs the training and
visualisation notebooks once per LWP threshold and writes one summary table
(CSV + Markdown) and a figure grid of one sample per threshold.

Parameters come from Python, from a small YAML file (:func:`load_parameter_file`)
or from ``NAME=VALUE`` pairs on the command line (:func:`parse_assignments`).
A notebook only receives the parameters its ``parameters`` cell declares.
Parameter names that look like credentials are refused: they would end up in
the executed copies.

Inside a notebook
-----------------
:func:`setup_notebook` (working directory and logging), :func:`training_config`,
:class:`LiveTrainingPlot` (loss curves redrawn at every evaluation),
:func:`load_or_train_generator`, :func:`save_figure` and :func:`write_metrics`
(what a notebook hands back to :func:`sweep`).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.paths import atomic_path

log = logging.getLogger(__name__)

KERNEL_NAME = "unisst"
"""Name of the Jupyter kernel that :func:`ensure_kernel` registers."""

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The directory above the package: the repository root for a checkout (editable install)."""

SWEEP_NOTEBOOKS = ("03_training", "04_visualisation")
METRICS_FILE = "metrics.json"
SAMPLE_FILE = "sample.png"
CREDENTIAL_WORDS = ("password", "passwd", "token", "secret", "credential", "apikey", "api_key")
"""Parameter names containing one of these are refused."""

# Set in the kernel's environment for every headless run: no GUI backend, no
# debugger warnings about frozen modules, and a marker that keeps setup_notebook
# from changing the working directory the run was given.
KERNEL_ENV = {
    "MPLBACKEND": "Agg",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "UNISST_HEADLESS": "1",
}


class NotebookError(UnisstError, RuntimeError):
    """A notebook failed: a cell raised, the kernel died, or the parameters are wrong.

    Attributes
    ----------
    notebook : str
        The notebook's name (``03_training``).
    cell : int | None
        Execution count (``In [n]``) of the failing cell, when a cell failed.
    ename, evalue : str
        The exception's type name and message inside the notebook.
    output : pathlib.Path | None
        The executed copy (with the full traceback), when one was written.
    """

    def __init__(
        self,
        message: str,
        *,
        notebook: str = "",
        cell: int | None = None,
        ename: str = "",
        evalue: str = "",
        output: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        self.output = output


# ------------------------------------------------------------------ locations
def project_root() -> Path | None:
    """The repository root when unisst runs from a checkout (it has ``notebooks/``), else None."""
    root = PACKAGE_ROOT
    if (root / "notebooks").is_dir() and (root / "data_manifest.yaml").is_file():
        return root
    return None


def notebook_dir() -> Path:
    """``notebooks/`` of the checkout.

    Raises
    ------
    NotebookError
        unisst is not installed from a checkout (the notebooks are not packaged).
    """
    root = project_root()
    if root is None:
        raise NotebookError(
            "the notebooks live in the unisst repository, but this unisst is not installed "
            "from a checkout: clone the repository and `pip install -e .` there."
        )
    return root / "notebooks"


def notebook_names(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the numbered notebooks (``01_download``, …), in order."""
    d = Path(directory) if directory is not None else notebook_dir()
    return sorted(p.stem for p in d.glob("[0-9][0-9]_*.ipynb"))


def notebook_path(name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """The ``.ipynb`` of a notebook given by name (``03_training``), number (``03``) or path."""
    p = Path(name)
    if p.suffix == ".ipynb":
        if not p.is_file():
            raise NotebookError(f"notebook {p} does not exist", notebook=p.stem)
        return p
    d = Path(directory) if directory is not None else notebook_dir()
    names = notebook_names(d)
    hits = [n for n in names if n == name] or [n for n in names if n.split("_")[0] == name]
    if len(hits) != 1:
        raise NotebookError(
            f"no notebook {name!r} in {d}: use one of {', '.join(names) or '(none)'}",
            notebook=name,
        )
    return d / f"{hits[0]}.ipynb"


# -------------------------------------------------------------------- kernel
def kernel_spec(python: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``kernel.json`` content of the ``unisst`` kernel for an interpreter."""
    return {
        "argv": [
            str(python or sys.executable),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python (unisst)",
        "language": "python",
        "metadata": {"debugger": True},
    }


def ensure_kernel(
    name: str = KERNEL_NAME,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
) -> Path:
    """Register a user-level Jupyter kernel that runs this interpreter (idempotent).

    Writes ``<jupyter data dir>/kernels/<name>/kernel.json`` (the user's
    ``~/.local/share/jupyter``, or ``$JUPYTER_DATA_DIR``) only when it is
    missing or points at another interpreter, so papermill and JupyterLab use
    the environment unisst is installed in.

    Parameters
    ----------
    name
        Kernel name (``unisst``).
    data_dir
        Jupyter data directory (default: the user's, as Jupyter finds it).
    python
        Interpreter (default ``sys.executable``).

    Returns
    -------
    pathlib.Path
        The kernel's directory.
    """
    if data_dir is None:
        from jupyter_core.paths import jupyter_data_dir

        data_dir = jupyter_data_dir()
    dest = Path(data_dir) / "kernels" / name
    spec = kernel_spec(python)
    target = dest / "kernel.json"
    try:
        current = json.loads(target.read_text())
    except (OSError, ValueError):
        current = None
    if current != spec:
        dest.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(spec, indent=1) + "\n")
        log.info("registered Jupyter kernel %r for %s in %s", name, spec["argv"][0], dest)
    try:
        import ipykernel

        resources = Path(ipykernel.__file__).parent / "resources"
        for logo in ("logo-32x32.png", "logo-64x64.png"):
            if (resources / logo).is_file() and not (dest / logo).is_file():
                (dest / logo).write_bytes((resources / logo).read_bytes())
    except ImportError:  # no ipykernel: the spec is still right, papermill will say what is missing
        pass
    return dest


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (the kernel inherits them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------- parameters
def notebook_parameters(name: str, directory: str | os.PathLike[str] | None = None) -> dict:
    """What a notebook's ``parameters`` cell declares: name -> {default, help}."""
    path = notebook_path(name, directory).resolve()
    return dict(_declared(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _declared(path: str, mtime_ns: int) -> dict:
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


def _plain(value: Any) -> Any:
    """A parameter value papermill can write as a Python literal (paths become strings)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
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
        except yaml.YAMLError:
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
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise NotebookError(f"cannot read parameter file {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise NotebookError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise NotebookError(f"{path} must hold a mapping (parameters:, overrides:, …)")
    known = {"parameters", "overrides", "notebooks", "thresholds", "out"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise NotebookError(
            f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))}); "
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
    thresholds = raw.get("thresholds")
    try:
        thr = tuple(float(t) for t in thresholds) if thresholds is not None else None
    except (TypeError, ValueError):
        raise NotebookError(f"{path}: thresholds must be a list of numbers (g m-2)") from None
    return ParameterFile(
        parameters=dict(params),
        overrides={str(k): dict(v) for k, v in overrides.items()},
        notebooks=tuple(str(n) for n in notebooks) if notebooks is not None else None,
        thresholds=thr,
        out=str(raw["out"]) if raw.get("out") is not None else None,
    )


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


def _normalise_overrides(
    overrides: Mapping[str, Mapping[str, Any]] | None, directory
) -> dict[str, dict[str, Any]]:
    """Key overrides by full notebook name (``04`` -> ``04_visualisation``); unknown names raise."""
    return {notebook_path(k, directory).stem: dict(v) for k, v in (overrides or {}).items()}


def _check_used(
    common: Mapping[str, Any], names: Sequence[str], directory, ignore: Iterable[str] = ()
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


# ------------------------------------------------------------------- running
def run_notebook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = "notebooks/_executed",
    *,
    kernel: str = KERNEL_NAME,
    directory: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    progress: bool = False,
    strict: bool = True,
) -> Path:
    """Execute a notebook with papermill; return the executed copy's path.

    Parameters
    ----------
    name
        ``03_training``, ``03`` or a path to an ``.ipynb``.
    parameters
        Injected after the ``parameters`` cell (paths become strings).
    out_dir
        Folder of the executed copy ``<out_dir>/<name>.ipynb`` (created).
    kernel
        Jupyter kernel; the default ``unisst`` is registered first (:func:`ensure_kernel`).
    directory
        Where the notebooks are (default ``notebooks/`` of the checkout).
    cwd
        Working directory of the kernel (default: the current one), so relative
        paths in ``parameters`` mean what they mean to the caller.
    timeout
        Seconds a single cell may run (default: no limit).
    progress
        Show papermill's cell-by-cell progress bar.
    strict
        Refuse parameters the notebook does not declare (papermill would only warn).

    Raises
    ------
    NotebookError
        A cell raised (the message names the cell, e.g. ``In [5]``, and the error;
        the executed copy holds the traceback), the kernel died or timed out, or
        the parameters are wrong.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    path = notebook_path(name, directory)
    stem = path.stem
    params = {str(k): _plain(v) for k, v in (parameters or {}).items()}
    check_no_credentials(params)
    if strict:
        declared = notebook_parameters(str(path))
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise NotebookError(
                f"notebook {stem} has no parameter(s) {', '.join(unknown)} "
                f"(it has: {', '.join(declared)})",
                notebook=stem,
            )
    if kernel == KERNEL_NAME:
        ensure_kernel(kernel)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{stem}.ipynb"
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    t0 = time.perf_counter()
    log.info("running %s -> %s", path, output)
    try:
        with _environment(KERNEL_ENV):
            pm.execute_notebook(
                str(path),
                str(output),
                parameters=params,
                kernel_name=kernel,
                progress_bar=progress,
                cwd=str(workdir),
                start_timeout=180,
                execution_timeout=timeout,
            )
    except PapermillExecutionError as err:
        first = next((ln for ln in str(err.source).splitlines() if ln.strip()), "").strip()
        raise NotebookError(
            f"notebook {stem} failed in cell In [{err.exec_count}] (`{first[:80]}`): "
            f"{err.ename}: {_first_line(err.evalue).rstrip('.')}. The executed copy with the "
            "traceback "
            f"is {output}",
            notebook=stem,
            cell=err.exec_count,
            ename=err.ename,
            evalue=str(err.evalue),
            output=output,
        ) from None
    except UnisstError:
        raise
    except Exception as err:  # kernel died, timeouts, missing kernel: nbclient/jupyter zoo
        raise NotebookError(
            f"notebook {stem} could not run ({type(err).__name__}: {_first_line(str(err))})"
            + (f"; the partial copy is {output}" if output.is_file() else ""),
            notebook=stem,
            ename=type(err).__name__,
            evalue=str(err),
            output=output if output.is_file() else None,
        ) from None
    log.info("%s ran in %.0f s", stem, time.perf_counter() - t0)
    return output


def _first_line(text: str, limit: int = 300) -> str:
    line = next((ln for ln in str(text).splitlines() if ln.strip()), "")
    return line[:limit]


@dataclass
class RunReport:
    """What happened to one notebook run."""

    notebook: str
    output: Path | None
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def run_all(
    out_dir: str | os.PathLike[str] = "notebooks/_executed",
    *,
    names: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    kernel: str = KERNEL_NAME,
    directory: str | os.PathLike[str] | None = None,
    keep_going: bool = True,
    progress: bool = False,
    on_report: Callable[[RunReport], None] | None = None,
) -> list[RunReport]:
    """Run several notebooks (default: all, in order) into ``out_dir``.

    Each notebook gets the ``parameters`` its parameters cell declares, then
    ``overrides[name]``; a notebook that declares ``out_dir`` and is not given one
    writes its files into ``<out_dir>/<name>/``. With ``keep_going`` a failure
    is reported and the next notebook runs; otherwise it raises.
    """
    all_names = [notebook_path(n, directory).stem for n in (names or notebook_names(directory))]
    common = dict(parameters or {})
    overrides = _normalise_overrides(overrides, directory)
    _check_used(common, all_names, directory)
    out_dir = Path(out_dir)
    reports = []
    for name in all_names:
        t0 = time.perf_counter()
        try:
            params = parameters_for(name, common, overrides, directory=directory)
            if "out_dir" in notebook_parameters(name, directory):
                params.setdefault("out_dir", str(out_dir / name))
            output = run_notebook(
                name, params, out_dir, kernel=kernel, directory=directory, progress=progress
            )
            report = RunReport(name, output, time.perf_counter() - t0)
        except NotebookError as err:
            if not keep_going:
                raise
            log.error("%s", err)
            report = RunReport(name, err.output, time.perf_counter() - t0, str(err))
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


# --------------------------------------------------------------------- sweep
@dataclass
class SweepResult:
    """A sweep's summary rows and files."""

    rows: list[dict[str, Any]]
    reports: dict[float, list[RunReport]]
    csv: Path
    markdown: Path
    figure: Path | None


SUMMARY_COLUMNS = (
    "threshold_gm2", "status", "occlusion_rate", "mae_c", "rmse_c", "mean_fill_rmse_c",
    "split", "from_notebook", "sample", "error",
)  # fmt: skip


def threshold_dir(out_dir: str | os.PathLike[str], threshold_gm2: float) -> Path:
    """The output folder of one threshold of a sweep: ``<out_dir>/threshold_70``."""
    return Path(out_dir) / f"threshold_{float(threshold_gm2):g}"


def sweep(
    thresholds: Sequence[float] = (55, 60, 65, 70, 75, 80),
    base_parameters: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = "runs/sweep",
    notebooks: Sequence[str] = SWEEP_NOTEBOOKS,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    kernel: str = KERNEL_NAME,
    directory: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> SweepResult:
    """Run ``notebooks`` once per LWP threshold, each threshold into its own folder.

    For threshold ``t`` the notebooks run into ``<out_dir>/threshold_<t>/`` with
    ``threshold_gm2 = t``, ``run_dir = <that>/run`` (one model per threshold),
    ``checkpoint = <that>/run/checkpoints/best.pt`` (unless ``base_parameters``
    names one), ``out_dir = <that>/<notebook>`` and no README figure. A failed
    notebook is reported, the remaining notebooks of that threshold are skipped
    (they need its results) and the next threshold runs.

    Then writes ``summary.csv`` and ``summary.md`` (threshold, occlusion rate,
    MAE/RMSE in °C — from the last notebook that wrote ``metrics.json``: the
    test region for ``04_visualisation``, validation for ``03_training``) and
    ``samples.png`` (one sample map per threshold) into ``out_dir``.
    """
    names = [notebook_path(n, directory).stem for n in notebooks]
    if not names:
        raise NotebookError("a sweep needs at least one notebook")
    if not thresholds:
        raise NotebookError("a sweep needs at least one threshold")
    base = dict(base_parameters or {})
    overrides = _normalise_overrides(overrides, directory)
    for key in ("threshold_gm2", "run_dir", "out_dir"):
        if key in base:
            raise NotebookError(f"the sweep sets {key!r} itself: remove it from the parameters")
    _check_used(base, names, directory)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    reports: dict[float, list[RunReport]] = {}
    for thr in thresholds:
        thr = float(thr)
        tdir = threshold_dir(out_dir, thr)
        common = {
            "checkpoint": str(tdir / "run" / "checkpoints" / "best.pt"),
            **base,
            "threshold_gm2": thr,
            "run_dir": str(tdir / "run"),
            "readme_figure": "",
        }
        reports[thr] = []
        for name in names:
            t0 = time.perf_counter()
            try:
                params = parameters_for(name, common, overrides, directory=directory)
                if "out_dir" in notebook_parameters(name, directory):
                    params["out_dir"] = str(tdir / name)
                output = run_notebook(
                    name, params, tdir, kernel=kernel, directory=directory, progress=progress
                )
                reports[thr].append(RunReport(name, output, time.perf_counter() - t0))
            except NotebookError as err:
                log.error("threshold %g g m-2: %s", thr, err)
                reports[thr].append(RunReport(name, err.output, time.perf_counter() - t0, str(err)))
                break
    rows = [_sweep_row(thr, threshold_dir(out_dir, thr), names, reps)
            for thr, reps in reports.items()]  # fmt: skip
    csv_path, md_path = out_dir / "summary.csv", out_dir / "summary.md"
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({k: _csv_value(r.get(k)) for k in SUMMARY_COLUMNS})
    with atomic_path(md_path) as tmp:
        tmp.write_text(sweep_markdown(rows, out_dir=out_dir))
    fig_path: Path | None = out_dir / "samples.png"
    try:
        from unisst_lib.views.plots import image_grid_figure

        fig = image_grid_figure(
            [(_sample_title(r), r["sample"] or None) for r in rows],
            ncols=min(2, len(rows)),
            panel_size=7.0,
        )
        save_figure(fig, fig_path, dpi=90)
    except (OSError, ValueError) as err:
        log.error("could not draw the sample grid: %s", err)
        fig_path = None
    return SweepResult(rows, reports, csv_path, md_path, fig_path)


def _csv_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return v


def _sample_title(row: Mapping[str, Any]) -> str:
    head = f"{row['threshold_gm2']:g} g m$^{{-2}}$"
    if row["status"] != "ok":
        return f"{head}: failed"
    parts = [head]
    if row.get("occlusion_rate") is not None:
        parts.append(f"{100 * row['occlusion_rate']:.0f} % occluded")
    if row.get("rmse_c") is not None:
        parts.append(f"RMSE {row['rmse_c']:.2f} °C")
    return ", ".join(parts)


def _sweep_row(
    thr: float, tdir: Path, names: Sequence[str], reports: Sequence[RunReport]
) -> dict[str, Any]:
    failed = [r for r in reports if not r.ok]
    row: dict[str, Any] = {
        "threshold_gm2": thr,
        "status": "ok" if not failed else f"failed in {failed[0].notebook}",
        "error": _first_line(failed[0].error, 500) if failed else "",
        "occlusion_rate": None,
        "mae_c": None,
        "rmse_c": None,
        "mean_fill_rmse_c": None,
        "split": "",
        "from_notebook": "",
        "sample": "",
    }
    if failed:
        return row
    for name in reversed(names):
        path = tdir / name / METRICS_FILE
        if path.is_file():
            m = read_metrics(path)
            for key in ("occlusion_rate", "mae_c", "rmse_c", "mean_fill_rmse_c"):
                row[key] = m.get(key)
            row["split"] = m.get("split", "")
            row["from_notebook"] = name
            break
    for name in reversed(names):
        sample = tdir / name / SAMPLE_FILE
        if sample.is_file():
            row["sample"] = str(sample)
            break
    return row


def sweep_markdown(rows: Sequence[Mapping[str, Any]], *, out_dir: Path | None = None) -> str:
    """The sweep's summary as a Markdown table (°C; occlusion rate in %)."""

    def num(v: Any, spec: str) -> str:
        return "–" if v is None or not math.isfinite(float(v)) else format(float(v), spec)

    lines = [
        "# LWP threshold sweep",
        "",
        "One model trained and evaluated per liquid-water-path threshold. Errors in °C on the "
        "occluded pixels only; `sequence mean`: filling with the mean of the observed pixels.",
        "",
        "| LWP threshold (g m⁻²) | occlusion rate | MAE (°C) | RMSE (°C) | sequence mean RMSE "
        "(°C) | evaluated on | status |",
        "| ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        occ = r.get("occlusion_rate")
        pct = "–" if occ is None else f"{num(100 * occ, '.1f')} %"
        lines.append(
            f"| {r['threshold_gm2']:g} | {pct} | "
            f"{num(r.get('mae_c'), '.3f')} | {num(r.get('rmse_c'), '.3f')} | "
            f"{num(r.get('mean_fill_rmse_c'), '.3f')} | {r.get('split') or '–'} | "
            f"{r['status']} |"
        )
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r['threshold_gm2']:g} g m⁻²: {r['error']}" for r in errors]
    if out_dir is not None:
        lines += ["", "![one sample per threshold](samples.png)"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------- inside a notebook
def setup_notebook(*, level: int = logging.INFO) -> Path:
    """Prepare a notebook: working directory and logging; returns the working directory.

    When the kernel starts inside the checkout (JupyterLab starts it in
    ``notebooks/``), move to the repository root so that relative paths
    (``data``, ``runs/…``) mean the same as for ``make``, the ``unisst``
    command and papermill runs (which keep the directory they were given). Log
    messages of unisst go to the notebook at ``level``.
    """
    root = project_root()
    here = Path.cwd().resolve()
    inside = root is not None and here != root and root in here.parents
    if inside and not os.environ.get("UNISST_HEADLESS"):
        os.chdir(root)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("unisst_lib").setLevel(level)
    logging.getLogger("unisst").setLevel(level)
    return Path.cwd()


def save_figure(
    fig, path: str | os.PathLike[str], *, dpi: float = 100, max_bytes: int | None = None
) -> Path:
    """Save a matplotlib figure as PNG atomically; with ``max_bytes``, lower the dpi until it fits.

    Raises
    ------
    UnisstError
        Even at 40 dpi the image is larger than ``max_bytes``.
    """
    path = Path(path)
    while True:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        data = buf.getvalue()
        if max_bytes is None or len(data) <= max_bytes:
            break
        if dpi <= 40:
            raise UnisstError(
                f"{path}: {len(data)} bytes at {dpi:.0f} dpi, more than {max_bytes}: "
                "draw a smaller figure"
            )
        dpi = max(40.0, dpi * 0.8)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    log.info("wrote %s (%d kB, %.0f dpi)", path, len(data) // 1024, dpi)
    return path


def write_metrics(out_dir: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write ``<out_dir>/metrics.json`` (what :func:`sweep` reads back); NaN becomes null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "item"):  # numpy / torch scalars
            return clean(v.item())
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        return v

    path = Path(out_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({k: clean(v) for k, v in metrics.items()}, indent=1) + "\n")
    return path


def read_metrics(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``metrics.json`` written by :func:`write_metrics`."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise NotebookError(f"cannot read metrics {path}: {err}") from None


def metrics_from_eval(row: Mapping[str, float], *, split: str, **extra: Any) -> dict[str, Any]:
    """The sweep's metrics from an evaluation row (``evaluation.validation.evaluate``)."""
    return {
        "split": split,
        "occlusion_rate": row.get("occlusion_rate"),
        "mae_c": row.get("mae_occluded_c"),
        "rmse_c": row.get("rmse_occluded_c"),
        "mean_fill_rmse_c": row.get("mean_fill_rmse_occluded_c"),
        "holdout_rmse_c": row.get("holdout_rmse_c"),
        **extra,
    }


def training_config(
    config: str,
    *,
    steps: int | None = None,
    threshold_gm2: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    eval_every: int | None = None,
    val_sequences: int | None = None,
    split_set: str | None = None,
    clouds: str | None = None,
):
    """:func:`~unisst_lib.training.loop.load_config` with the notebook's overrides (None: keep).

    ``eval_every`` is capped at ``steps`` so that a short run still evaluates;
    ``val_sequences`` is how many validation sequences each evaluation scores;
    ``split_set`` / ``clouds`` pick other data of the manifest (e.g. ``anfc`` and
    ``figshare`` once downloaded).
    """
    from unisst_lib.training.loop import load_config

    base = load_config(config)
    over: dict[str, Any] = {}
    if steps is not None:
        over["steps"] = int(steps)
    if device is not None:
        over["device"] = device
    n = int(steps) if steps is not None else base.steps
    every = int(eval_every) if eval_every is not None else base.eval_every
    if every > n:
        every = n
    if every != base.eval_every:
        over["eval_every"] = every
    if base.log_every > n:
        over["log_every"] = n
    data: dict[str, Any] = {}
    if threshold_gm2 is not None:
        data["threshold_gm2"] = float(threshold_gm2)
    if data_dir is not None:
        data["data_dir"] = os.fspath(data_dir)
    if val_sequences is not None:
        data["val_sequences"] = int(val_sequences)
    if split_set is not None:
        data["split_set"] = str(split_set)
    if clouds is not None:
        data["clouds"] = str(clouds)
    if data:
        over["data"] = data
    return load_config(config, **over)


def describe_config(cfg) -> list[dict[str, Any]]:
    """The settings of a training config that matter to a reader, as (setting, value) rows."""
    from unisst_lib.models import build_generator

    n_params = sum(p.numel() for p in build_generator(cfg.generator).parameters())
    lc = cfg.loss
    losses = [f"adversarial × {lc.adversarial_weight:g}"] if lc.adversarial_weight else []
    if lc.self_supervised_weight:
        losses.append(f"withheld observed pixels ({lc.self_supervised_norm}) × "
                      f"{lc.self_supervised_weight:g}")  # fmt: skip
    if lc.supervised_weight:
        losses.append(f"truth under the clouds (ORACLE) × {lc.supervised_weight:g}")
    return [
        {"setting": "config", "value": cfg.name},
        {"setting": "generator", "value": f"{cfg.generator.arch}, {n_params / 1e6:.2f} M params"},
        {"setting": "generator loss", "value": " + ".join(losses)},
        {"setting": "steps (generator updates)", "value": cfg.steps},
        {"setting": "batch (sequences)", "value": cfg.batch_size},
        {"setting": "critic updates per step", "value": cfg.critic_steps},
        {
            "setting": "learning rates (G, critics)",
            "value": f"{cfg.optim.lr_g:g}, {cfg.optim.lr_d:g}",
        },
        {"setting": "evaluate every", "value": f"{cfg.eval_every} steps"},
        {"setting": "validation sequences", "value": cfg.data.val_sequences or "all"},
        {"setting": "LWP threshold", "value": f"{cfg.data.threshold_gm2:g} g m-2"},
        {
            "setting": "data",
            "value": f"{cfg.data.split_set} / {cfg.data.clouds} clouds, "
            f"{cfg.data.data_dir or 'default data dir'}",
        },
        {"setting": "device", "value": cfg.device},
    ]


class LiveTrainingPlot:
    """Loss and validation curves redrawn in the notebook at every evaluation.

    Pass an instance as ``on_eval`` to :func:`unisst_lib.training.loop.train`; it reads
    the run's ``train_log.csv`` / ``val_log.csv`` and replaces the figure shown
    in the cell output (one image, updated in place). With ``resume`` and a
    run that has already logged evaluations, the curves so far show at once.
    """

    def __init__(
        self, run_dir: str | os.PathLike[str], *, resume: bool = True, title: str | None = None
    ) -> None:
        from IPython.display import Markdown, display

        self.run_dir = Path(run_dir)
        self.title = title
        self.updates = 0
        self._handle = display(
            Markdown("*The curves appear here after the first evaluation.*"), display_id=True
        )
        if resume and (self.run_dir / "checkpoints" / "latest.pt").is_file():
            last = _last_validation(self.run_dir)
            if last:
                self(int(last["step"]), last)

    def __call__(self, step: int, metrics: Mapping[str, float]) -> None:
        from IPython.display import Image

        from unisst_lib.views.plots import training_curves_figure

        title = self.title or f"{self.run_dir} — step {step}"
        if metrics:
            title += (
                f": withheld-pixel RMSE {metrics.get('holdout_rmse_c', math.nan):.3f} °C, "
                f"under the clouds {metrics.get('rmse_occluded_c', math.nan):.3f} °C"
            )
        fig = training_curves_figure(self.run_dir, title=title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        if self._handle is not None:
            self._handle.update(Image(data=buf.getvalue(), format="png"))
        self.updates += 1


def checkpoint_table(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The checkpoints of a run: file, step, best withheld-pixel RMSE (°C), size (MB)."""
    from unisst_lib.training.loop import load_checkpoint

    rows = []
    for path in sorted((Path(run_dir) / "checkpoints").glob("*.pt")):
        state = load_checkpoint(path)
        rows.append(
            {
                "checkpoint": str(path),
                "step": int(state["step"]),
                "withheld-pixel RMSE (°C)": round(float(state["best_holdout_rmse_c"]), 4),
                "size (MB)": round(path.stat().st_size / 1e6, 1),
            }
        )
    return rows


def load_or_train_generator(
    checkpoint: str | os.PathLike[str],
    *,
    fallback_config: str = "fast",
    fallback_steps: int = 30,
    threshold_gm2: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
):
    """The generator of ``checkpoint``; when it does not exist, train one briefly first.

    The fallback trains ``fallback_config`` for ``fallback_steps`` steps into the
    checkpoint's run directory (``runs/x`` for ``runs/x/checkpoints/best.pt``),
    resuming if it can, so the next call finds the checkpoint.

    Returns
    -------
    (generator, config, trained)
        The generator in eval mode on ``device``, its training config, and
        whether it was trained by this call.
    """
    from unisst_lib.training.loop import load_generator, select_device, train

    checkpoint = Path(checkpoint)
    trained = False
    if not checkpoint.is_file():
        in_ckpt_dir = checkpoint.parent.name == "checkpoints"
        run = checkpoint.parent.parent if in_ckpt_dir else checkpoint.parent
        log.warning(
            "no checkpoint at %s: training the %r config for %d steps into %s first",
            checkpoint, fallback_config, fallback_steps, run,
        )  # fmt: skip
        cfg = training_config(
            fallback_config,
            steps=fallback_steps,
            threshold_gm2=threshold_gm2,
            data_dir=data_dir,
            device=device,
        )
        train(cfg, run, resume=True, tensorboard=False)
        trained = True
        if not checkpoint.is_file():
            raise NotebookError(
                f"training into {run} did not write {checkpoint}: name a checkpoint "
                "`<run>/checkpoints/best.pt` or `latest.pt`"
            )
    dev = select_device(device)
    generator, cfg = load_generator(checkpoint, device=dev)
    return generator, cfg, trained


def load_benchmark_results(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A benchmark's ``results.json``, or None when there is none (the notebook says so).

    Raises
    ------
    NotebookError
        The file exists but is not a benchmark result (no ``rows`` list).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise NotebookError(f"cannot read benchmark results {path}: {err}") from None
    if not isinstance(results, dict) or not isinstance(results.get("rows"), list):
        raise NotebookError(f"{path} is not a benchmark result (no `rows` list)")
    need = {"method", "threshold_gm2", "occlusion_rate", "rmse_c", "mae_c"}
    for i, row in enumerate(results["rows"]):
        missing = need - set(row)
        if missing:
            raise NotebookError(f"{path}: rows[{i}] lacks {', '.join(sorted(missing))}")
    return results


def benchmark_table(results: Mapping[str, Any], key: str = "rmse_c") -> list[dict[str, Any]]:
    """One row per method, one column per threshold: ``key`` (°C) — for a DataFrame."""
    from unisst_lib.benchmark.suite import METHOD_ORDER

    rows = results["rows"]
    present = list(dict.fromkeys(r["method"] for r in rows))
    methods = [m for m in METHOD_ORDER if m in present] + [m for m in present
                                                          if m not in METHOD_ORDER]  # fmt: skip
    thresholds = sorted({float(r["threshold_gm2"]) for r in rows})
    by = {(r["method"], float(r["threshold_gm2"])): r for r in rows}
    table = []
    for m in methods:
        entry: dict[str, Any] = {"method": m}
        info = next((r.get("information", "") for r in rows if r["method"] == m), "")
        entry["sees"] = info
        for t in thresholds:
            v = by.get((m, t), {}).get(key)
            entry[f"{t:g} g/m²"] = None if v is None else round(float(v), 3)
        table.append(entry)
    return table


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
    times on the way on 10 validation sequences, and the README picture.
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
        "04_visualisation": {
            "checkpoint": f"{run_dir}/checkpoints/best.pt",
            "fallback_config": config,
            "fallback_steps": int(steps),
            "readme_figure": readme_figure,
        },
    }
    return common, overrides


def _last_validation(run_dir: str | os.PathLike[str]) -> dict[str, float]:
    from unisst_lib.views.plots import read_log

    rows = read_log(Path(run_dir) / "val_log.csv")
    return rows[-1] if rows else {}


def training_summary(result) -> str:
    """One paragraph on a finished :func:`unisst_lib.training.loop.train` run (°C)."""
    ev = result.last_eval or _last_validation(result.out_dir)
    if not ev:
        return f"step {result.step}: no evaluation yet ({result.out_dir})"
    return (
        f"step {result.step} ({result.seconds:.0f} s this session): RMSE on withheld observed "
        f"pixels {ev['holdout_rmse_c']:.3f} °C (best {result.best_holdout_rmse_c:.3f} °C, "
        f"which selects best.pt); RMSE under the clouds against the truth "
        f"{ev['rmse_occluded_c']:.3f} °C, against {ev['mean_fill_rmse_occluded_c']:.3f} °C for "
        f"filling with the sequence mean ({100 * ev['occlusion_rate']:.0f} % of the pixels "
        "occluded)."
    )


def validation_table(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The run's validation log with readable column names (°C; occlusion in %)."""
    from unisst_lib.views.plots import read_log

    out = []
    for r in read_log(Path(run_dir) / "val_log.csv"):
        out.append(
            {
                "step": int(r["step"]),
                "withheld-pixel RMSE (°C)": round(r["holdout_rmse_c"], 4),
                "RMSE under clouds (°C)": round(r["rmse_occluded_c"], 4),
                "MAE under clouds (°C)": round(r["mae_occluded_c"], 4),
                "sequence-mean RMSE (°C)": round(r["mean_fill_rmse_occluded_c"], 4),
                "occluded (%)": round(100 * r["occlusion_rate"], 1),
                "best so far": "★" if r.get("best") == 1 else "",
            }
        )
    return out


def latest_sample(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest sample figure a run saved (``samples/step_*.png``), or None."""
    samples = sorted((Path(run_dir) / "samples").glob("step_*.png"))
    return samples[-1] if samples else None


def training_metrics(result, cfg) -> dict[str, Any]:
    """What ``03_training`` hands to :func:`sweep`: validation errors of the last evaluation."""
    ev = result.last_eval or _last_validation(result.out_dir)
    return metrics_from_eval(
        ev,
        split="val",
        threshold_gm2=cfg.data.threshold_gm2,
        step=result.step,
        config=cfg.name,
        checkpoint=str(Path(result.out_dir) / "checkpoints" / "best.pt"),
    )


def evaluation_table(rows: Sequence[Mapping[str, float]]) -> list[dict[str, Any]]:
    """Rows of ``evaluation.validation.evaluate_thresholds``, readable names (°C)."""
    return [
        {
            "LWP threshold (g m⁻²)": r["threshold_gm2"],
            "occluded (%)": round(100 * r["occlusion_rate"], 1),
            "RMSE under clouds (°C)": round(r["rmse_occluded_c"], 3),
            "MAE under clouds (°C)": round(r["mae_occluded_c"], 3),
            "sequence-mean RMSE (°C)": round(r["mean_fill_rmse_occluded_c"], 3),
            "withheld-pixel RMSE (°C)": round(r["holdout_rmse_c"], 3),
        }
        for r in rows
    ]


def describe_split(split_set: str, split: str) -> str:
    """``test region 20°S–14.75°S, 20°W–14.75°W (never seen in training)``-style label."""
    from unisst_lib.core.manifest import load_manifest
    from unisst_lib.sources.inventory import region_label

    m = load_manifest()
    dataset = m.split_set(split_set).split(split).dataset
    label = f"{split} region {region_label(m.region_of(dataset))}"
    return label + (" (never seen in training)" if split == "test" else "")


def show_interactive(view) -> None:
    """Display a HoloViews or Panel object with every resource inline: no CDN, works offline.

    Call ``hv.extension("bokeh", inline=True)`` first (it inlines the JavaScript).
    HoloViews' own display still links Panel's stylesheets from cdn.holoviz.org;
    through :func:`panel.panel` with ``panel.config.inline`` they are inlined too.
    """
    import panel as pn
    from IPython.display import display

    pn.config.inline = True
    display(pn.panel(view))


def representative_frame(rec) -> int:
    """The frame whose cloud cover is closest to the sequence's mean (a fair single picture).

    ``rec``: a :func:`unisst_lib.evaluation.validation.recover_sequence` result; ties go to
    the earliest frame.
    """
    import numpy as np

    cover = np.asarray(rec["mask"].values, dtype=np.float64).mean(axis=(1, 2))
    return int(np.argmin(np.abs(cover - cover.mean())))
