"""An archive filled with an ensemble: ``<sst>_error`` (and the members) in each written file.

:func:`unisst_lib.methods.archive_fill.fill_archive` with ``members > 1`` writes, next
to the SST (the ensemble mean, packed as the input) and its flag:

* ``<sst>_error``: float32, the predicted standard deviation of the error, in the
  SST's units (a difference: the same number in kelvin and °C), 0 where observed,
  NaN on land; listed in the SST's ``ancillary_variables``;
* with ``keep_members``, ``<sst>_members`` on a leading ``member`` dimension, packed
  like the SST: observed pixels keep the input's integers bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr


def add_ensemble_variables(
    raw: xr.Dataset,
    name: str,
    *,
    error: np.ndarray,
    members: np.ndarray | None,
    needed: np.ndarray,
    base: np.ndarray,
    pack: Callable[[np.ndarray], np.ndarray],
    comment: str,
) -> xr.Dataset:
    """``raw`` (undecoded) with the error (and members) of ``name`` on its dims.

    ``error`` (and each member) are already in the file's layout; ``base`` the SST's
    stored integers, ``pack`` turns °C into them.
    """
    var = raw[name]
    attrs = {
        "long_name": f"standard deviation of the error of {name} (from the ensemble spread)",
        "units": var.attrs.get("units", ""),
        "comment": comment,
        "coverage_content_type": "qualityInformation",
    }
    if "standard_name" in var.attrs:
        attrs["standard_name"] = f"{var.attrs['standard_name']} standard_error"
    raw[f"{name}_error"] = xr.Variable(var.dims, error.astype(np.float32), attrs)
    anc = [a for a in (var.attrs.get("ancillary_variables"), f"{name}_error") if a]
    raw[name].attrs["ancillary_variables"] = " ".join(anc)
    if members is not None:
        packed = np.stack([_member(m, needed, base, pack) for m in members])
        m_attrs = {**var.attrs, "long_name": f"ensemble members of {name}"}
        m_attrs.pop("ancillary_variables", None)
        raw[f"{name}_members"] = xr.Variable(("member", *var.dims), packed, m_attrs)
        raw = raw.assign_coords(member=np.arange(len(members), dtype=np.int32))
    return raw


def _member(values: np.ndarray, needed: np.ndarray, base: np.ndarray, pack) -> np.ndarray:
    data = np.array(base, copy=True)
    data[needed] = pack(values[needed])
    return data
