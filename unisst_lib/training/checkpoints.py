"""Checkpoints of a training run: writing, reading safely, and loading the generator.

A checkpoint is a ``torch.save``'d dict with ``format`` = :data:`CHECKPOINT_FORMAT`:
the config, the step, the best withheld-pixel RMSE, the state of the three
networks, both optimisers and schedules, and the torch RNG — everything an
exact resume needs. :func:`export_generator` writes a slim one with the
generator only, enough for gap filling and evaluation.

Reading never unpickles arbitrary objects (``weights_only=True``), and a file
that cannot be read says why: missing, truncated or foreign, or saved for a
device this machine does not have.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from unisst_lib import __version__
from unisst_lib.core.config import ConfigError, from_dict, to_dict
from unisst_lib.core.errors import CorruptFileError, DataNotFoundError, UnisstError
from unisst_lib.core.paths import atomic_path
from unisst_lib.models import build_generator
from unisst_lib.training.config import TrainConfig

if TYPE_CHECKING:
    from unisst_lib.training.step import Models, RunState

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "unisst-checkpoint-1"

# Words of torch.load errors that come from the device the tensors are mapped to,
# not from the file: a CUDA device that is absent, busy or full, or a map_location
# torch cannot restore tensors to.
_DEVICE_ERROR_MARKERS = ("cuda", "device", "data location")


class CheckpointDeviceError(UnisstError, RuntimeError):
    """A readable checkpoint cannot be placed on the device asked for."""


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temp file, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a unisst checkpoint safely (``weights_only=True``), with clear errors.

    Raises
    ------
    DataNotFoundError
        There is no file at ``path``.
    CheckpointDeviceError
        The file reads, but its tensors cannot go to ``map_location`` (no CUDA
        here, a device that does not exist or is out of memory).
    CorruptFileError
        The file is truncated, not a torch file, or not a unisst checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError/EOFError/UnpicklingError/...
        raise _load_error(path, map_location, err) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CorruptFileError(
            f"{path} is not a unisst checkpoint ({CHECKPOINT_FORMAT}; it holds {found!r}): "
            "use a checkpoint written by `unisst train`."
        )
    return state


def _load_error(path: Path, map_location: str | torch.device, err: Exception) -> Exception:
    """The unisst error for a failed ``torch.load`` of ``path``: device, I/O or content."""
    detail = f"{type(err).__name__}: {str(err)[:200]}"
    if isinstance(err, RuntimeError) and any(
        word in str(err).lower() for word in _DEVICE_ERROR_MARKERS
    ):
        if "cuda.is_available() is false" in str(err).lower():
            return CheckpointDeviceError(
                f"cannot load checkpoint {path} onto {str(map_location)!r}: CUDA is not "
                "available on this machine; load it with device='cpu'."
            )
        return CheckpointDeviceError(
            f"cannot load checkpoint {path} onto {str(map_location)!r} ({detail}). The "
            "file itself reads: choose a device that exists and has room (e.g. device='cpu')."
        )
    if isinstance(err, OSError):  # the file system, not the content
        return CorruptFileError(f"cannot read checkpoint {path} ({detail}).")
    return CorruptFileError(
        f"cannot read checkpoint {path} ({detail}). "
        "It is truncated or not a unisst checkpoint: use another one or train again."
    )


def load_generator(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """The generator of a checkpoint, in eval mode, and the config it was trained with.

    Raises
    ------
    CorruptFileError
        The checkpoint's config or generator weights do not fit this unisst
        version's models (besides the errors of :func:`load_checkpoint`).
    """
    return generator_from_state(load_checkpoint(path, map_location=device), path, device=device)


def generator_from_state(
    state: dict[str, Any], path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """:func:`load_generator` for a checkpoint already read (``path`` names it in errors)."""
    try:
        cfg = from_dict(TrainConfig, state["config"])
        generator = build_generator(cfg.generator)
    except (KeyError, ConfigError) as err:
        raise _mismatch_error(path, err) from err
    generator = generator.to(device)  # a device failure here is no mismatch: let it through
    try:
        generator.load_state_dict(state["models"]["generator"])
    except (KeyError, RuntimeError) as err:  # missing, unexpected or mis-shaped weights
        raise _mismatch_error(path, err) from err
    return generator.eval(), cfg


def _mismatch_error(path: str | os.PathLike[str], err: Exception) -> CorruptFileError:
    return CorruptFileError(
        f"checkpoint {path} does not match this unisst version's models ({err}); "
        "train again or use the unisst version that wrote it."
    )


def export_generator(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write a small checkpoint with the generator only (no critics, optimisers or RNG).

    Enough for :func:`load_generator` (gap filling, evaluation), not for resuming
    training. Returns ``out``; written atomically.
    """
    state = load_checkpoint(checkpoint)
    slim = {
        "format": CHECKPOINT_FORMAT,
        "unisst_version": state.get("unisst_version", __version__),
        "config": state["config"],
        "step": state.get("step"),
        "best_holdout_rmse_c": state.get("best_holdout_rmse_c"),
        "last_eval": state.get("last_eval", {}),
        "models": {"generator": state["models"]["generator"]},
        "exported_from": Path(checkpoint).name,
        **({"archive": state["archive"]} if "archive" in state else {}),
    }
    return save_checkpoint(out, slim)


def check_compatible(state: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """Refuse a checkpoint whose model architecture differs from ``cfg``'s."""
    saved = state["config"]
    for section in ("generator", "discriminator"):
        if saved[section] != to_dict(cfg)[section]:
            raise ConfigError(
                f"checkpoint {path} was trained with another {section} "
                f"({saved[section]}) than config {cfg.name!r} ({to_dict(cfg)[section]}): "
                "use the config it was made with, or a new --out directory."
            )


def training_state(
    cfg: TrainConfig, models: Models, run: RunState, *, data_info: dict | None = None
) -> dict[str, Any]:
    """The checkpoint of a run in progress: enough to resume it exactly.

    ``data_info``: what a run on an archive records of it (cadence, window, grid;
    :func:`unisst_lib.training.archive_data.archive_info`), under ``"archive"``.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "unisst_version": __version__,
        "config": to_dict(cfg),
        "step": run.step,
        "best_holdout_rmse_c": run.best_holdout_rmse_c,
        "selection_metric": cfg.selection_metric,
        "stale_evals": run.stale_evals,
        "models": {
            "generator": models.generator.state_dict(),
            "image_d": models.image_d.state_dict(),
            "video_d": models.video_d.state_dict(),
        },
        "optim": {"generator": models.opt_g.state_dict(), "critics": models.opt_d.state_dict()},
        "sched": {"generator": models.sched_g.state_dict(), "critics": models.sched_d.state_dict()},
        "rng": {"torch": torch.get_rng_state()},
        "last_eval": run.last_eval,
        **({"archive": data_info} if data_info is not None else {}),
    }


def restore_training_state(state: dict[str, Any], models: Models) -> tuple[int, float]:
    """Load a :func:`training_state` into ``models`` and the torch RNG.

    Returns the checkpoint's ``(step, best_holdout_rmse_c)``.
    """
    models.generator.load_state_dict(state["models"]["generator"])
    models.image_d.load_state_dict(state["models"]["image_d"])
    models.video_d.load_state_dict(state["models"]["video_d"])
    models.opt_g.load_state_dict(state["optim"]["generator"])
    models.opt_d.load_state_dict(state["optim"]["critics"])
    models.sched_g.load_state_dict(state["sched"]["generator"])
    models.sched_d.load_state_dict(state["sched"]["critics"])
    torch.set_rng_state(state["rng"]["torch"])
    return int(state["step"]), float(state["best_holdout_rmse_c"])


def init_from_checkpoint(path: str | os.PathLike[str], models: Models) -> None:
    """Start ``models`` from the networks of checkpoint ``path`` (``TrainConfig.init_from``).

    Every weight of the checkpoint is copied where the new network has it with the same
    shape; a generator stem that takes more input channels (noise) gets the old weights
    on the old channels and keeps its fresh initialisation on the new ones. Optimisers,
    schedules and the step start afresh. Weights the checkpoint has and the new networks
    do not, or shapes that do not fit otherwise, are refused.
    """
    path = _init_path(path)
    state = load_checkpoint(path)
    nets = {"generator": models.generator, "image_d": models.image_d, "video_d": models.video_d}
    for key, net in nets.items():
        saved = state["models"].get(key)
        if saved is None:  # an exported checkpoint has the generator only
            log.info("init_from %s: no %s weights, it starts from its initialisation", path, key)
            continue
        own = net.state_dict()
        extra = int(getattr(net, "noise_channels", 0))  # the only widening allowed
        for name, value in saved.items():
            if name not in own:
                raise ConfigError(f"init_from {path}: {key} weight {name!r} is not in this model")
            grow = extra if name == "stem.weight" else 0
            own[name] = _widened(own[name], value, grow, f"init_from {path}: {key}.{name}")
        net.load_state_dict(own)


def _init_path(path: str | os.PathLike[str]) -> Path:
    """``path``, or the bundled checkpoint of that name (``fast_twin.pt``)."""
    p = Path(path)
    bundled = Path(__file__).resolve().parents[1] / "checkpoints" / p.name
    if not p.is_file() and p.name == str(path) and bundled.is_file():
        return bundled
    if not p.is_file():
        raise DataNotFoundError(
            f"init_from: {path} is neither a checkpoint file nor a bundled checkpoint "
            f"({', '.join(sorted(q.name for q in bundled.parent.glob('*.pt')))})"
        )
    return p


def _widened(new: torch.Tensor, old: torch.Tensor, grow: int, where: str) -> torch.Tensor:
    """``old`` in ``new``'s shape: equal, or on the first input channels of a conv that
    takes exactly ``grow`` more (the noise channels)."""
    if new.shape == old.shape:
        return old.to(new.dtype)
    if grow and new.dim() == old.dim() >= 2 and new.shape[0] == old.shape[0]:
        if new.shape[2:] == old.shape[2:] and new.shape[1] == old.shape[1] + grow:
            out = new.clone()
            out[:, : old.shape[1]] = old
            return out
    raise ConfigError(
        f"{where}: shape {tuple(old.shape)} does not fit {tuple(new.shape)}; init_from "
        "needs the same architecture (more noise channels are the only change allowed)"
    )


def parameter_digest(module: nn.Module) -> str:
    """SHA-256 of all parameters and buffers (to compare runs or processes bit for bit)."""
    if isinstance(module, nn.parallel.DistributedDataParallel):
        module = module.module
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
