"""Shared fixtures: the tiny embedded twin, generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A data directory holding the tiny twin (SST netCDF + cloud npy)."""
    from unisst_lib.data.twin.make import make_twin

    root = tmp_path_factory.mktemp("data")
    make_twin("tiny", root, progress=False)
    return root
