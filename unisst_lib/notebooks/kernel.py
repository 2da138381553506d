"""The ``unisst`` Jupyter kernel: its spec, its registration, and the environment of headless runs.

:func:`ensure_kernel` registers a user-level kernel that runs the interpreter
unisst is installed in, so papermill and JupyterLab use this environment;
:func:`kernel_environment` sets :data:`KERNEL_ENV` around a papermill run (the
kernel inherits it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from unisst_lib.core.paths import atomic_path

log = logging.getLogger(__name__)

KERNEL_NAME = "unisst"
"""Name of the Jupyter kernel that :func:`ensure_kernel` registers."""

# Set in the kernel's environment for every headless run: no GUI backend, no
# debugger warnings about frozen modules, and a marker that keeps setup_notebook
# from changing the working directory the run was given.
KERNEL_ENV = {
    "MPLBACKEND": "Agg",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "UNISST_HEADLESS": "1",
}


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
    _copy_logos(dest)
    return dest


def _copy_logos(dest: Path) -> None:
    """Give the kernel ipykernel's logos (JupyterLab's launcher shows them), once."""
    try:
        import ipykernel
    except ImportError:  # no ipykernel: the spec is still right, papermill will say what is missing
        return
    resources = Path(ipykernel.__file__).parent / "resources"
    for logo in ("logo-32x32.png", "logo-64x64.png"):
        if (resources / logo).is_file() and not (dest / logo).is_file():
            (dest / logo).write_bytes((resources / logo).read_bytes())


#: JupyterLab settings that keep a first start quiet and offline: no "news" notification
#: asking to fetch Jupyter's news feed, no update check (``news_url=None`` alone does not
#: stop the notification).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}


def quiet_lab_settings(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Write :data:`LAB_SETTINGS` into JupyterLab's ``overrides.json`` of this environment.

    The file is ``<prefix>/share/jupyter/lab/settings/overrides.json`` (``prefix``:
    ``sys.prefix``, the venv); other plugins' entries in it are kept. Returns its path.
    """
    path = Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    try:
        current = json.loads(path.read_text())
    except FileNotFoundError:
        current = {}
    except ValueError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}): fix or delete it, then run `unisst kernel` again"
        ) from err
    merged = {**current, **LAB_SETTINGS}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(merged, indent=1) + "\n")
        log.info("JupyterLab news and update checks off in %s", path)
    return path


@contextlib.contextmanager
def kernel_environment(values: Mapping[str, str] = KERNEL_ENV) -> Iterator[None]:
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
