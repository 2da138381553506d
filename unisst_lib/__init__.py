"""unisst: unsupervised gap filling of cloudy SST sequences (UNISST, Yin et al. 2019).

The public API, in a few names (imported on first use, so ``import unisst_lib`` stays
light):

>>> import unisst_lib
>>> unisst_lib.fill.__module__
'unisst_lib.methods.fill'

The code is laid out by stage (``core``, ``data``, ``sources``, ``models``,
``evaluation``, ``training``, ``methods``, ``benchmark``, ``views``, ``notebooks``):
see ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Public name -> "module:attribute" it comes from.
_API = {
    "open_sst": "unisst_lib.data.io:open_sst",
    "open_archive": "unisst_lib.data.archive:open_archive",
    "load_clouds": "unisst_lib.data.io:load_clouds",
    "load_manifest": "unisst_lib.core.manifest:load_manifest",
    "make_twin": "unisst_lib.data.twin.make:make_twin",
    "make_dataset": "unisst_lib.data.dataset:make_dataset",
    "load_config": "unisst_lib.training.config:load_config",
    "train": "unisst_lib.training.loop:train",
    "load_generator": "unisst_lib.training.checkpoints:load_generator",
    "evaluate_thresholds": "unisst_lib.evaluation.validation:evaluate_thresholds",
    "recover_sequence": "unisst_lib.evaluation.validation:recover_sequence",
    "fill": "unisst_lib.methods.fill:fill",
    "fill_archive": "unisst_lib.methods.archive_fill:fill_archive",
    "fill_streamed": "unisst_lib.methods.stream.run:fill_streamed",
    "fill_baseline": "unisst_lib.methods.baselines:fill_baseline",
    "dineof": "unisst_lib.methods.dineof:dineof",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    try:
        module, _, attr = _API[name].partition(":")
    except KeyError:
        raise AttributeError(f"module 'unisst_lib' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
