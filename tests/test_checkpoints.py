"""Checkpoints: each way a checkpoint can fail to load gets its own error, cause kept."""

from __future__ import annotations

import pickle

import pytest
import torch

from unisst_lib.core.config import to_dict
from unisst_lib.core.errors import CorruptFileError, DataNotFoundError
from unisst_lib.models import GeneratorConfig, build_generator
from unisst_lib.training import checkpoints
from unisst_lib.training.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointDeviceError,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from unisst_lib.training.config import load_config, replace_config

# What torch.load says when a file holds CUDA tensors and this machine has no CUDA.
NO_CUDA = (
    "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is "
    "False. If you are running on a CPU-only machine, please use torch.load with "
    "map_location=torch.device('cpu') to map your storages to the CPU."
)


@pytest.fixture(scope="module")
def slim_cfg():
    return replace_config(load_config("tiny"), generator={"base_channels": 8, "norm_groups": 4})


@pytest.fixture
def good_checkpoint(tmp_path, slim_cfg):
    """A generator-only checkpoint, as export_generator writes them."""
    generator = build_generator(slim_cfg.generator)
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": to_dict(slim_cfg),
        "models": {"generator": generator.state_dict()},
    }
    return save_checkpoint(tmp_path / "good.pt", state)


def _failing_load(err: Exception):
    def load(*args, **kwargs):
        raise err

    return load


def test_a_good_checkpoint_loads(good_checkpoint, slim_cfg):
    generator, cfg = load_generator(good_checkpoint)
    assert cfg == slim_cfg and not generator.training


def test_a_missing_checkpoint_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="absent.pt does not exist"):
        load_checkpoint(tmp_path / "absent.pt")


def test_a_truncated_checkpoint_is_corrupt_and_keeps_the_reader_error(good_checkpoint):
    blob = good_checkpoint.read_bytes()
    good_checkpoint.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CorruptFileError, match="truncated or not a unisst checkpoint") as info:
        load_checkpoint(good_checkpoint)
    assert not isinstance(info.value, CheckpointDeviceError)
    assert isinstance(info.value.__cause__, RuntimeError)  # the zip reader's own message
    assert str(info.value.__cause__)[:40] in str(info.value)


def test_a_file_that_is_no_pickle_is_corrupt(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptFileError, match="^cannot read checkpoint .*truncated") as info:
        load_checkpoint(junk)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)


def test_a_torch_file_of_another_kind_is_not_a_unisst_checkpoint(tmp_path):
    foreign = save_checkpoint(tmp_path / "foreign.pt", {"state_dict": {"w": torch.zeros(2)}})
    with pytest.raises(CorruptFileError, match="is not a unisst checkpoint .*holds None"):
        load_checkpoint(foreign)
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(2), tensor_only)
    with pytest.raises(CorruptFileError, match="holds 'Tensor'"):
        load_checkpoint(tensor_only)


def test_no_cuda_here_says_load_on_the_cpu(good_checkpoint, monkeypatch):
    monkeypatch.setattr(checkpoints.torch, "load", _failing_load(RuntimeError(NO_CUDA)))
    with pytest.raises(CheckpointDeviceError, match="CUDA is not available") as info:
        load_checkpoint(good_checkpoint, map_location="cuda")
    assert "device='cpu'" in str(info.value)
    assert "truncated" not in str(info.value)
    assert not isinstance(info.value, CorruptFileError)
    assert str(info.value.__cause__) == NO_CUDA


def test_another_cuda_failure_is_a_device_error_without_the_cpu_diagnosis(
    good_checkpoint, monkeypatch
):
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(checkpoints.torch, "load", _failing_load(oom))
    with pytest.raises(CheckpointDeviceError, match="onto 'cuda:1' .*CUDA out of memory") as info:
        load_checkpoint(good_checkpoint, map_location="cuda:1")
    assert "not available" not in str(info.value) and "truncated" not in str(info.value)
    assert info.value.__cause__ is oom


def test_an_unknown_map_location_is_a_device_error(good_checkpoint):
    with pytest.raises(CheckpointDeviceError, match="onto 'nowhere'") as info:
        load_checkpoint(good_checkpoint, map_location="nowhere")
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_loading_onto_cuda_without_cuda_is_a_device_error(good_checkpoint):
    with pytest.raises(CheckpointDeviceError, match="CUDA is not available .*device='cpu'"):
        load_checkpoint(good_checkpoint, map_location="cuda")


def test_an_unreadable_file_is_no_claim_of_truncation(good_checkpoint, monkeypatch):
    denied = PermissionError(13, "Permission denied")
    monkeypatch.setattr(checkpoints.torch, "load", _failing_load(denied))
    with pytest.raises(CorruptFileError, match="PermissionError") as info:
        load_checkpoint(good_checkpoint)
    assert "truncated" not in str(info.value)
    assert info.value.__cause__ is denied


def test_weights_of_another_generator_are_a_mismatch_with_the_cause_kept(tmp_path, slim_cfg):
    other = build_generator(GeneratorConfig(base_channels=16))
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": to_dict(slim_cfg),
        "models": {"generator": other.state_dict()},
    }
    path = save_checkpoint(tmp_path / "mixed.pt", state)
    with pytest.raises(CorruptFileError, match="does not match this unisst version") as info:
        load_generator(path)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "size mismatch" in str(info.value.__cause__)


def test_a_checkpoint_without_a_config_is_a_mismatch(tmp_path):
    path = save_checkpoint(tmp_path / "bare.pt", {"format": CHECKPOINT_FORMAT, "models": {}})
    with pytest.raises(CorruptFileError, match="does not match") as info:
        load_generator(path)
    assert isinstance(info.value.__cause__, KeyError)
