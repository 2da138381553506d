"""Conventions every committed notebook follows (issue 17): the project kernel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROJECT_KERNEL = {"display_name": "Python (unisst)", "language": "python", "name": "unisst"}


def test_the_notebooks_are_found():
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernelspec_is_the_project_kernel(path):
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert meta.get("kernelspec") == PROJECT_KERNEL, (
        f"{path.name}: kernelspec {meta.get('kernelspec')}; JupyterLab would open it with "
        "another kernel than the project's (`make lab` only offers 'unisst')"
    )


def test_mask_notebook_explains_the_clear_sky_step_next_to_the_histogram():
    cells = json.loads((NOTEBOOKS[0].parent / "02_mask_exploration.ipynb").read_text("utf-8"))
    cells = [("".join(c["source"]), c["cell_type"]) for c in cells["cells"]]
    (i,) = [k for k, (src, kind) in enumerate(cells) if "histogram_figure(" in src]
    assert "clear_sky_gm2=" in cells[i][0]  # the dotted line at the twin's clear-sky level
    text, kind = cells[i + 1]
    assert kind == "markdown" and "clear-sky level" in text
    # The measured numbers come from code, not typed into the paragraph.
    code, kind = cells[i + 2]
    assert kind == "code" and "explore.clear_sky_step(explorer" in code
    assert set(re.findall(r"\d+(?:\.\d+)?", text)) <= {"1", "55", "80"}  # 1/p, the 55–80 range
