"""Headless notebook runs: one notebook with papermill, or several in order.

:func:`run_notebook` executes one of ``notebooks/NN_name.ipynb`` with papermill
on the ``unisst`` Jupyter kernel (:func:`~unisst_lib.notebooks.kernel.ensure_kernel`
registers it for the running interpreter, so papermill and JupyterLab use this
environment), with parameters injected after the cell tagged ``parameters``,
and writes the executed copy into an output folder. A failing cell raises
:class:`~unisst_lib.notebooks.locations.NotebookError`, which names the cell and
the error. :func:`run_all` runs several and reports each (:class:`RunReport`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisst_lib.core.errors import UnisstError
from unisst_lib.notebooks.kernel import KERNEL_NAME, ensure_kernel, kernel_environment
from unisst_lib.notebooks.locations import NotebookError, notebook_names, notebook_path
from unisst_lib.notebooks.params import (
    check_no_credentials,
    check_used,
    normalise_overrides,
    notebook_parameters,
    parameters_for,
    plain_value,
)

if TYPE_CHECKING:
    from papermill.exceptions import PapermillExecutionError

log = logging.getLogger(__name__)


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
        Jupyter kernel; the default ``unisst`` is registered first (``ensure_kernel``).
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
    path = notebook_path(name, directory)
    params = _checked_parameters(path, parameters, strict=strict)
    if kernel == KERNEL_NAME:
        ensure_kernel(kernel)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{path.stem}.ipynb"
    t0 = time.perf_counter()
    log.info("running %s -> %s", path, output)
    _execute(
        path,
        output,
        params,
        kernel=kernel,
        cwd=Path(cwd) if cwd is not None else Path.cwd(),
        timeout=timeout,
        progress=progress,
    )
    log.info("%s ran in %.0f s", path.stem, time.perf_counter() - t0)
    return output


def _checked_parameters(
    path: Path, parameters: Mapping[str, Any] | None, *, strict: bool
) -> dict[str, Any]:
    """The parameters as papermill literals, refused before any kernel starts when wrong."""
    params = {str(k): plain_value(v) for k, v in (parameters or {}).items()}
    check_no_credentials(params)
    if strict:
        declared = notebook_parameters(str(path))
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise NotebookError(
                f"notebook {path.stem} has no parameter(s) {', '.join(unknown)} "
                f"(it has: {', '.join(declared)})",
                notebook=path.stem,
            )
    return params


def _execute(
    path: Path,
    output: Path,
    params: dict[str, Any],
    *,
    kernel: str,
    cwd: Path,
    timeout: float | None,
    progress: bool,
) -> None:
    """papermill's run of ``path`` into ``output``; every failure becomes a NotebookError."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        with kernel_environment():
            pm.execute_notebook(
                str(path),
                str(output),
                parameters=params,
                kernel_name=kernel,
                progress_bar=progress,
                cwd=str(cwd),
                start_timeout=180,
                execution_timeout=timeout,
            )
    except PapermillExecutionError as err:
        raise _cell_error(err, path.stem, output) from err
    except UnisstError:
        raise
    except Exception as err:  # kernel died, timeouts, missing kernel: nbclient/jupyter zoo
        raise NotebookError(
            f"notebook {path.stem} could not run ({type(err).__name__}: {first_line(str(err))})"
            + (f"; the partial copy is {output}" if output.is_file() else ""),
            notebook=path.stem,
            ename=type(err).__name__,
            evalue=str(err),
            output=output if output.is_file() else None,
        ) from err


def _cell_error(err: PapermillExecutionError, stem: str, output: Path) -> NotebookError:
    """The NotebookError of a failed cell: which cell (``In [n]``, its first line) and what."""
    first = next((ln for ln in str(err.source).splitlines() if ln.strip()), "").strip()
    return NotebookError(
        f"notebook {stem} failed in cell In [{err.exec_count}] (`{first[:80]}`): "
        f"{err.ename}: {first_line(err.evalue).rstrip('.')}. The executed copy with the "
        f"traceback is {output}",
        notebook=stem,
        cell=err.exec_count,
        ename=err.ename,
        evalue=str(err.evalue),
        output=output,
    )


def first_line(text: str, limit: int = 300) -> str:
    """The first non-blank line of ``text``, at most ``limit`` characters.

    >>> first_line("\\nValueError: bad\\n  more", limit=10)
    'ValueError'
    """
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
    overrides = normalise_overrides(overrides, directory)
    check_used(common, all_names, directory)
    reports = []
    for name in all_names:
        report = run_one(
            name, common, overrides, Path(out_dir), kernel=kernel, directory=directory,
            progress=progress, raise_errors=not keep_going,
        )  # fmt: skip
        if report.error:
            log.error("%s", report.error)
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


def run_one(
    name: str,
    common: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, Any]],
    out_dir: Path,
    *,
    kernel: str,
    directory: str | os.PathLike[str] | None,
    progress: bool,
    own_out_dir: bool = False,
    raise_errors: bool = False,
) -> RunReport:
    """Run one notebook into ``out_dir`` with its parameters (``common``, then its overrides).

    A notebook that declares ``out_dir`` writes its files into ``<out_dir>/<name>/``:
    unless given one, or always with ``own_out_dir``. A :class:`NotebookError` becomes a
    failed report (``raise_errors``: it is raised).
    """
    t0 = time.perf_counter()
    try:
        params = parameters_for(name, common, overrides, directory=directory)
        if "out_dir" in notebook_parameters(name, directory):
            if own_out_dir:
                params["out_dir"] = str(out_dir / name)
            else:
                params.setdefault("out_dir", str(out_dir / name))
        output = run_notebook(
            name, params, out_dir, kernel=kernel, directory=directory, progress=progress
        )
        return RunReport(name, output, time.perf_counter() - t0)
    except NotebookError as err:
        if raise_errors:
            raise
        return RunReport(name, err.output, time.perf_counter() - t0, str(err))
