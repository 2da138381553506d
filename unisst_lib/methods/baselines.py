"""Classic gap-filling baselines for SST sequences by name: mean, temporal, Laplace and DINEOF.

Every method has the same call shape, ``filled = fill_xxx(sst, mask=None, **options)``,
with (T, H, W) ``sst`` in °C, a (T, H, W) ``mask`` True where occluded and an (H, W)
``land`` option (:mod:`unisst_lib.methods.problem` says how each is read):

* ``"mean"``: :func:`unisst_lib.methods.interp.fill_mean`, the mean of the
  observed pixels of the sequence;
* ``"temporal"``: :func:`unisst_lib.methods.interp.fill_temporal`, per-pixel
  linear interpolation in time between the nearest observed frames (held
  constant before the first and after the last);
* ``"laplace"``: :func:`unisst_lib.methods.interp.fill_laplace`, per-frame
  harmonic inpainting (∇²u = 0 in the gaps, no flux across the grid edge and
  the coast);
* ``"dineof"``: :func:`unisst_lib.methods.dineof.fill_dineof` (and
  :func:`~unisst_lib.methods.dineof.dineof` for the diagnostics), EOF
  reconstruction with the number of EOFs chosen by cross-validation.

:func:`fill_baseline` calls one of them by name.

Fallbacks (shared by every method, :func:`unisst_lib.methods.interp.complete`):
a pixel the method cannot reach (no observation at that pixel for the temporal
fill, no observation in the frame for the Laplace fill, ...) is interpolated in
time from the frames where it was filled, then harmonically in space from the
pixels filled in that frame, and finally set to the sequence mean (an ocean
basin never observed).

Examples
--------
>>> import numpy as np
>>> sst = np.array([[[20.0, np.nan]], [[22.0, 23.0]]])  # (T=2, H=1, W=2), °C
>>> fill_baseline("temporal", sst)[:, 0, 1].tolist()
[23.0, 23.0]
>>> fill_baseline("mean", sst)[0, 0].tolist()
[20.0, 21.666666666666668]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from unisst_lib.methods.dineof import fill_dineof
from unisst_lib.methods.interp import fill_laplace, fill_mean, fill_temporal
from unisst_lib.methods.problem import BaselineInputError

__all__ = ["BASELINE_NAMES", "BaselineName", "fill_baseline"]

BaselineName = Literal["mean", "temporal", "laplace", "dineof"]

#: Names accepted by :func:`fill_baseline`.
BASELINE_NAMES: tuple[str, ...] = ("mean", "temporal", "laplace", "dineof")

_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "mean": fill_mean,
    "temporal": fill_temporal,
    "laplace": fill_laplace,
    "dineof": fill_dineof,
}


def fill_baseline(
    name: BaselineName, sst: np.ndarray, mask: np.ndarray | None = None, **options
) -> np.ndarray:
    """Fill ``sst`` with the baseline called ``name`` (one of :data:`BASELINE_NAMES`).

    ``options`` go to that function as keywords; an option it does not take
    raises ``TypeError`` (no silent typos).

    Examples
    --------
    >>> import numpy as np
    >>> fill_baseline("mean", np.array([[[1.0, 2.0]]]), np.array([[[False, True]]])).tolist()
    [[[1.0, 1.0]]]
    """
    try:
        fn = _METHODS[name]
    except (KeyError, TypeError) as err:
        raise BaselineInputError(
            f"unknown baseline {name!r}: use one of {', '.join(map(repr, BASELINE_NAMES))}"
        ) from err
    return fn(sst, mask, **options)
