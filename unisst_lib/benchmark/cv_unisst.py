"""The ``unisst`` row of a cross-validation: a trained model, or one fitted on the CV input.

With ``fit``, the model is trained on the cross-validation input itself — the
archive with the hidden pixels already removed — so it never sees the pixels it
is scored on; its own model selection withholds further observed pixels of that
input (:func:`unisst_lib.methods.fit.fit_archive`). The same function is what
``unisst fill --fit`` runs, so the row scores that command.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from unisst_lib.methods.fill import fill
from unisst_lib.methods.fit import DEFAULT_FIT_MINUTES, FIT_CONFIG, fit_archive


@dataclass(frozen=True)
class UnisstOptions:
    """How the ``unisst`` method gets its model in a cross-validation.

    ``checkpoint``: a trained model (default: fit one). ``fit_minutes`` /
    ``fit_steps``: the fit's budget. ``save_model``: keep the fitted model here.
    """

    checkpoint: str | os.PathLike[str] | None = None
    fit_minutes: float = DEFAULT_FIT_MINUTES
    fit_steps: int | None = None
    fit_config: str = FIT_CONFIG
    save_model: str | os.PathLike[str] | None = None
    device: str = "auto"
    progress: bool = True


def run_unisst(
    sst: np.ndarray, land: np.ndarray, seed: int, *, like: xr.Dataset, options: UnisstOptions
) -> tuple[np.ndarray, dict]:
    """Fill (T, H, W) ``sst`` (NaN where missing) with a UNISST model; (filled, row fields)."""
    ds = xr.Dataset(
        {
            "sst": (("time", "latitude", "longitude"), sst.astype(np.float32), {"units": "°C"}),
            "land": (("latitude", "longitude"), land.astype(bool)),
        },
        coords={k: like[k].values for k in ("time", "latitude", "longitude")},
        attrs=dict(like.attrs),
    )
    with tempfile.TemporaryDirectory(prefix="unisst-cv-") as tmp:
        extra: dict = {}
        checkpoint = options.checkpoint
        if checkpoint is None:
            out = options.save_model or Path(tmp) / "fit.pt"
            res = fit_archive(
                ds, out=out, minutes=options.fit_minutes, steps=options.fit_steps, seed=seed,
                device=options.device, config=options.fit_config, progress=options.progress,
            )  # fmt: skip
            checkpoint = res.checkpoint
            kept = "" if res.kept == "model" else "; its first guess kept (the model was worse)"
            extra = {
                "fit_steps": res.steps,
                "fit_seconds": res.seconds,
                "fit_kept": res.kept,
                "note": f"fitted on the CV input: {res.steps} steps in {res.seconds:.0f} s{kept}",
            }
        else:
            extra = {"note": f"checkpoint {Path(checkpoint).name}"}
        filled = fill(ds[["sst"]], checkpoint=checkpoint, land=ds["land"], device=options.device)
    values = filled["sst"].transpose("time", "latitude", "longitude").values
    return values.astype(np.float64), extra
