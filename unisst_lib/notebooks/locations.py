"""Where the numbered notebooks are, what they are called, and the error a notebook raises.

The notebooks live in ``notebooks/NN_name.ipynb`` of the repository (they are
not packaged): :func:`notebook_path` finds one by name (``03_training``),
number (``03``) or path, and raises :class:`NotebookError` naming the ones
there are when it cannot.
"""

from __future__ import annotations

import os
from pathlib import Path

from unisst_lib.core.errors import UnisstError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The directory above the package: the repository root for a checkout (editable install)."""


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
