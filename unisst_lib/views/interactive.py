"""An interactive view of an SST sequence: hvplot images side by side with one time slider.

:func:`interactive_view` shows the fields of :mod:`unisst_lib.views.maps` (same
grid checks and colours) as a :class:`holoviews.Layout` for the bokeh backend,
with linked zoom and a ``time`` slider. holoviews and hvplot come with the
``notebooks`` extra.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from unisst_lib.views.map_panels import (
    CLOUD_GREY,
    check_fields,
    err_cmap,
    error_limit,
    require_extra,
    sst_cmap,
    sst_range,
)


def _shared_time(
    truth: xr.DataArray | None, obs: xr.DataArray, rec: xr.DataArray
) -> tuple[xr.DataArray | None, xr.DataArray, xr.DataArray]:
    """The fields on the observation's ``time`` coordinate (0, 1, ... when it has none)."""
    if "time" not in obs.coords:
        obs, rec = (d.assign_coords(time=np.arange(d.sizes["time"])) for d in (obs, rec))
    else:
        rec = rec.assign_coords(time=obs["time"])
    truth = truth.assign_coords(time=obs["time"]) if truth is not None else None
    return truth, obs, rec


def _panels(
    truth: xr.DataArray | None, obs: xr.DataArray, rec: xr.DataArray
) -> list[tuple[str, xr.DataArray, dict]]:
    """(name, field, hvplot colour options) of each panel, in display order."""
    lo, hi = sst_range(truth, obs, rec, list(range(obs.sizes["time"])))
    sst = {"cmap": sst_cmap(), "clim": (lo, hi), "clabel": "SST (°C)"}
    panels = [("truth", truth, sst)] if truth is not None else []
    panels += [("observation", obs, sst), ("recovered", rec, sst)]
    if truth is not None:
        err = rec - truth
        emax = error_limit(err.values)
        err_options = {
            "cmap": err_cmap(),
            "clim": (-emax, emax),
            "clabel": "recovered − truth (°C)",
        }
        panels.append(("error", err, err_options))
    return panels


def interactive_view(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    *,
    width: int = 240,
    dynamic: bool = False,
):
    """hvplot images side by side with one time slider (bokeh backend).

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        As :func:`unisst_lib.views.maps.comparison_figure`; panels truth,
        observation, recovered and error (recovered − truth, symmetric range) or,
        without truth, observation and recovered.
    width
        Width of each map in pixels (equal-degree aspect).
    dynamic
        False (default): a :class:`holoviews.HoloMap` per panel holding every
        frame, so the view works in a saved notebook or HTML without a kernel.
        True: :class:`holoviews.DynamicMap` (needs a live kernel).

    Returns
    -------
    holoviews.Layout
        Panels (two per row when there are four) whose key dimension is ``time``,
        with linked zoom and one time slider. Display it in a notebook with
        :func:`unisst_lib.notebooks.helpers.show_interactive` after
        ``hv.extension("bokeh", inline=True)``: every script and stylesheet inline,
        no network (HoloViews' own display links Panel's stylesheets from a CDN), or
        save it with ``hv.save(view, "view.html", resources="inline")``.
    """
    hv = require_extra("holoviews")
    hv_plot = require_extra("hvplot").hvPlot  # no hvplot.xarray: that import loads CDN resources
    truth, obs, rec = _shared_time(*check_fields(truth_c, observed_c, recovered_c))
    plots = []
    for name, da, options in _panels(truth, obs, rec):
        img = hv_plot(da.rename(name)).image(
            x="longitude",
            y="latitude",
            groupby="time",
            dynamic=dynamic,
            title=name,
            frame_width=width,
            data_aspect=1,
            xlabel="longitude (°E)",
            ylabel="latitude (°N)",
            **options,
        )
        plots.append(img.opts(clipping_colors={"NaN": CLOUD_GREY}))
    return hv.Layout(plots).cols(2 if len(plots) == 4 else len(plots))
