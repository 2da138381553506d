"""The models ``fill`` loads: the bundled checkpoints by cadence, and :func:`load_model`."""

from __future__ import annotations

import os
from pathlib import Path

import pooch

import unisst_lib
from unisst_lib.core.errors import CorruptFileError, DataNotFoundError, UnisstError
from unisst_lib.core.manifest import load_manifest
from unisst_lib.models.device import select_device
from unisst_lib.training.checkpoints import generator_from_state, load_checkpoint

__all__ = ["BUNDLED_ENSEMBLES", "BUNDLED_MODELS", "default_checkpoint", "load_model"]

#: The models shipped with the package, by the cadence of the frames they learnt from.
BUNDLED_MODELS = {"PT6H": "fast_twin.pt", "P1D": "fast_l3_daily.pt"}
#: The stochastic models shipped with the package (``fill(..., members=N)``), by cadence.
BUNDLED_ENSEMBLES = {"PT6H": "ensemble_twin.pt"}


def default_checkpoint(cadence: str | None = None) -> Path:
    """The bundled checkpoint for frames at ``cadence`` (ISO 8601, e.g. ``P1D``).

    A cadence with no bundled model of its own (or ``None``) gets the 6-hourly twin
    model (``fast_twin.pt``), which also fills frames 1, 2 or 3 h apart as
    interleaved series; other cadences are refused by :func:`fill` with the advice
    to fit a model on the data (``unisst fill --fit``).
    """
    folder = Path(unisst_lib.__file__).parent / "checkpoints"
    own = folder / BUNDLED_MODELS.get(cadence or "", "none")
    return own if own.is_file() else folder / BUNDLED_MODELS["PT6H"]


def load_model(checkpoint, device) -> dict:
    """The generator of ``checkpoint`` (default :func:`default_checkpoint`) and what fill needs.

    Returns a dict: ``generator``, ``device``, ``seq_len`` and ``interval_hours``
    (of the split set or the archive it was trained on), ``archive`` (what the
    checkpoint records of the archive, or None), ``std_factor`` and ``fill_value``
    (the normalisation) and ``sha256`` (of the file).
    """
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    if checkpoint is None and not path.is_file():
        raise DataNotFoundError(
            f"the default checkpoint {path} is not installed: pass --checkpoint PATH "
            "(checkpoint=...) with a model from `unisst train`."
        )
    if not path.is_file():
        raise DataNotFoundError(f"checkpoint {path} does not exist: pass an existing .pt file")
    dev = select_device(device)
    state = load_checkpoint(path, map_location=dev)
    generator, cfg = generator_from_state(state, path, device=dev)
    m = load_manifest()
    archive = state.get("archive")  # a model trained on an archive
    if archive is not None:
        seq_len, interval_hours = int(archive["seq_len"]), float(archive["interval_hours"])
    else:
        try:
            split = m.split_set(cfg.data.split_set)
        except UnisstError as err:
            raise CorruptFileError(f"checkpoint {path}: {err}") from err
        seq_len, interval_hours = split.seq_len, split.interval_hours
    return {
        "generator": generator,
        "device": dev,
        "seq_len": seq_len,
        "interval_hours": interval_hours,
        "archive": archive,
        # the normalisation the model was trained with (recorded by a run on an archive)
        "std_factor": (archive or {}).get("std_factor", m.normalisation.std_factor),
        "fill_value": (archive or {}).get("fill_value", m.normalisation.occluded_fill_value),
        "sha256": pooch.file_hash(os.fspath(path), alg="sha256"),
        "noise_channels": int(getattr(generator, "noise_channels", 0)),
        # fit's fallback: the head zeroed, so every member is the first guess
        "first_guess_only": bool(state.get("first_guess_only", False)),
        "spread_calibration": state.get("spread_calibration"),
    }
