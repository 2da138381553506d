"""Device choice, autocast and the cuDNN autotuner flag (unisst_lib.models.device)."""

from __future__ import annotations

import pytest
import torch

from unisst_lib.core.errors import UnisstError
from unisst_lib.models.device import autocast_context, cudnn_benchmark, select_device


@pytest.fixture
def benchmark_flag():
    saved = torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.benchmark = saved


@pytest.mark.parametrize("before", [False, True])
def test_cudnn_benchmark_is_set_inside_and_restored_after(benchmark_flag, before):
    torch.backends.cudnn.benchmark = before
    with cudnn_benchmark(True):
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is before
    with cudnn_benchmark(False):
        assert torch.backends.cudnn.benchmark is before  # disabled: left as the caller set it
    assert torch.backends.cudnn.benchmark is before


def test_cudnn_benchmark_is_restored_when_the_body_raises(benchmark_flag):
    torch.backends.cudnn.benchmark = False
    with pytest.raises(RuntimeError, match="mid-run"):
        with cudnn_benchmark(True):
            raise RuntimeError("mid-run failure")
    assert torch.backends.cudnn.benchmark is False


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_cuda_says_use_the_cpu():
    with pytest.raises(UnisstError, match="CUDA is not available: use --device cpu"):
        select_device("cuda:0")


def test_autocast_is_bf16_on_cuda_only():
    with autocast_context(torch.device("cpu"), True):
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
