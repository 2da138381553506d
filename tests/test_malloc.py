"""unisst_lib.core.malloc: glibc keeps PyTorch's large buffers for reuse."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "from unisst_lib.core.malloc import tune_allocator as t; print(t(), t())"


def _run(**env) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CODE], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_applied_once_on_glibc():
    assert _run(UNISST_TUNE_MALLOC="1") == "True True"


def test_switched_off_by_the_environment():
    assert _run(UNISST_TUNE_MALLOC="0") == "False False"
