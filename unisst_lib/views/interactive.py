"""An interactive view of an SST sequence: a 2×2 grid of maps with one time slider below it.

:func:`interactive_view` shows the fields of :mod:`unisst_lib.views.maps` (same
grid checks and colours) as a :class:`holoviews.Layout` of :class:`holoviews.HoloMap`
panels for the bokeh backend: linked zoom, latitudes and longitudes written
``16°S`` / ``15°W``, values in °C. :func:`interactive_panel` puts the time slider
under the grid and, for a short sequence, embeds every frame in the output, so
the slider scrubs in the browser with no round trip to the kernel (and still
works in a saved notebook); a long one updates when the slider is released.
:func:`interactive_members` shows an ensemble's members with a member slider next to
the time slider (every frame in the page, swapped in the browser: :func:`members_view`).
:func:`load_resources` loads bokeh's and panel's scripts once, inline (no
network). holoviews and panel come with the ``notebooks`` extra.

In a notebook::

    from unisst_lib.views import interactive
    interactive.load_resources()  # once, before the first view
    interactive.interactive_panel(truth, observed, recovered)
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from unisst_lib.views.ensemble_inputs import (
    EnsembleInputError,
    check_members,
    same_grid,
    shared_limits,
)
from unisst_lib.views.map_panels import (
    CLOUD_GREY,
    MapInputError,
    check_fields,
    error_limit,
    require_extra,
    sst_range,
)

log = logging.getLogger(__name__)

EMBED_MAX_FRAMES = 48
"""Sequences up to this many frames are embedded whole (scrubbing needs no kernel)."""

PANEL_WIDTH = 240
"""Width of one map in pixels: two maps side by side, each with its axis and colour bar,
take about 780 px, which fits a JupyterLab notebook 1280 px wide with the file browser open."""

VALUE_STEP = 256
"""The view's values are rounded to 1/VALUE_STEP °C (0.004 °C)."""

HOLOVIEWS_LOAD_MIME = "application/vnd.holoviews_load.v0+json"
"""The mimetype JupyterLab's pyviz extension (installed with pyviz_comms) runs scripts from."""

# A tick or hover value (degrees) -> "16°S", "15.5°W", "0°" (the same rule as degree_label).
_DEGREE_JS = """
const v = Math.round(Number({value}) * 100) / 100;
if (!isFinite(v)) {{ return String({value}); }}
const a = Math.abs(v);
const s = a.toFixed(2).replace(/\\.?0+$/, "");
return v === 0 ? s + "°" : s + "°" + (v < 0 ? "{neg}" : "{pos}");
"""


def degree_label(value: float, axis: str) -> str:
    """``-16`` -> ``16°S`` (``latitude``), ``-15.5`` -> ``15.5°W`` (``longitude``), 0 -> ``0°``.

    The rule of the view's tick and hover labels (which run it in the browser),
    to at most two decimals.

    >>> degree_label(-16, "latitude"), degree_label(35.25, "longitude")
    ('16°S', '35.25°E')
    """
    neg, pos = _hemispheres(axis)
    v = round(float(value), 2)
    if not math.isfinite(v):
        return str(value)
    text = f"{abs(v):.2f}".rstrip("0").rstrip(".")
    return f"{text}°" if v == 0 else f"{text}°{neg if v < 0 else pos}"


def _hemispheres(axis: str) -> tuple[str, str]:
    if axis == "latitude":
        return "S", "N"
    if axis == "longitude":
        return "W", "E"
    raise MapInputError(f"axis must be 'latitude' or 'longitude', got {axis!r}")


def degree_js(axis: str, value: str = "tick") -> str:
    """The JavaScript of :func:`degree_label` for a bokeh formatter (``value``: its variable)."""
    neg, pos = _hemispheres(axis)
    return _DEGREE_JS.format(value=value, neg=neg, pos=pos)


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
) -> list[tuple[str, np.ndarray, dict]]:
    """(name, values (T, H, W) float32 °C, colour options) of each panel, in display order."""
    from unisst_lib.views.map_panels import err_cmap, sst_cmap

    lo, hi = sst_range(truth, obs, rec, list(range(obs.sizes["time"])))
    sst = {"cmap": _hex(sst_cmap()), "clim": (lo, hi), "clabel": "SST (°C)"}
    panels = [("truth", truth.values, sst)] if truth is not None else []
    panels += [("observation", obs.values, sst), ("recovered", rec.values, sst)]
    if truth is not None:
        err = rec.values - truth.values
        emax = error_limit(err)
        err_opts = {
            "cmap": _hex(err_cmap()),
            "clim": (-emax, emax),
            "clabel": "recovered − truth (°C)",
        }
        panels.append(("error", err, err_opts))
    return [(n, _rounded(v), o) for n, v, o in panels]


def _rounded(values: np.ndarray) -> np.ndarray:
    """float32 °C on a 1/256 °C grid: what the view shows (its hover writes 0.01 °C), half
    the bytes of the embedded frames (their low mantissa bits compress away)."""
    return (np.round(np.asarray(values, dtype=np.float64) * VALUE_STEP) / VALUE_STEP).astype(
        np.float32
    )


def _hex(cmap) -> list[str]:
    """A matplotlib colormap as 256 hex colours (what bokeh takes)."""
    from matplotlib.colors import to_hex

    return [to_hex(c) for c in cmap(np.linspace(0, 1, 256))]


def _axis_options() -> dict[str, Any]:
    """Tick formatters (°N/°S, °E/°W), axis labels and a hover tool that writes the same."""
    models = require_extra("bokeh.models")
    hover = models.HoverTool(
        tooltips=[
            ("value", "@image{0.00} °C"),
            ("latitude", "$y{custom}"),
            ("longitude", "$x{custom}"),
        ],
        formatters={
            "$y": models.CustomJSHover(code=degree_js("latitude", "value")),
            "$x": models.CustomJSHover(code=degree_js("longitude", "value")),
        },
    )
    return {
        "xlabel": "longitude",
        "ylabel": "latitude",
        "xformatter": models.CustomJSTickFormatter(code=degree_js("longitude")),
        "yformatter": models.CustomJSTickFormatter(code=degree_js("latitude")),
        "tools": [hover],
    }


def interactive_view(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    *,
    width: int = PANEL_WIDTH,
):
    """The maps of a sequence as HoloViews panels whose key dimension is ``time`` (bokeh).

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        As :func:`unisst_lib.views.maps.comparison_figure`; panels truth,
        observation, recovered and error (recovered − truth, symmetric range) or,
        without truth, observation and recovered.
    width
        Width of each map in pixels (equal-degree aspect).

    Returns
    -------
    holoviews.Layout
        One :class:`holoviews.HoloMap` of every frame per panel (float32 °C,
        rounded to 1/256 °C), two panels per row when there are four, linked
        zoom; axes labelled latitude / longitude with ``16°S`` / ``15°W`` ticks.
        Show it with :func:`interactive_panel` (slider below the grid, frames
        embedded).
    """
    hv = require_extra("holoviews")
    require_extra("holoviews.plotting.bokeh")  # registers the bokeh options (no output)
    truth, obs, rec = _shared_time(*check_fields(truth_c, observed_c, recovered_c))
    lon = obs["longitude"].values.astype(np.float64)
    lat = obs["latitude"].values.astype(np.float64)
    times = obs["time"].values
    axes = _axis_options()
    plots = []
    for name, values, colours in _panels(truth, obs, rec):
        vdim = hv.Dimension(name, label=name, unit="°C")
        frames = {
            t: hv.Image((lon, lat, values[i]), kdims=["longitude", "latitude"], vdims=[vdim])
            for i, t in enumerate(times)
        }
        hmap = hv.HoloMap(frames, kdims=["time"])
        hmap.opts(
            backend="bokeh",
            title=name,
            frame_width=width,
            data_aspect=1,
            colorbar=True,
            clipping_colors={"NaN": CLOUD_GREY},
            fontsize={"title": "11pt", "labels": "10pt", "ticks": "9pt"},
            **colours,
            **axes,
        )
        plots.append(hmap)
    return hv.Layout(plots).cols(2 if len(plots) == 4 else len(plots))


def interactive_panel(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    *,
    width: int = PANEL_WIDTH,
    embed_max: int = EMBED_MAX_FRAMES,
):
    """:func:`interactive_view` with its time slider below the grid, ready to display.

    Up to ``embed_max`` frames, every frame is embedded in the output (panel's
    ``embed``): the slider scrubs in the browser without the kernel, and the
    view still works in a saved notebook or HTML page. A longer sequence is
    shown live: a slider whose value reaches the kernel when it is released
    (``value_throttled``), so dragging across many frames draws once.

    Returns
    -------
    panel.io.notebook.Mimebundle or panel.Column
        Display it (the last line of a cell) after :func:`load_resources`.
    """
    pn = require_extra("panel")
    view = interactive_view(truth_c, observed_c, recovered_c, width=width)
    n_time = observed_c.sizes["time"]
    if n_time <= embed_max:
        return _embedded(pn.panel(view, widget_location="bottom", center=False), n_time)
    log.info(
        "%d frames: more than %d, so the frames are not embedded; the view redraws when "
        "the slider is released (it needs the kernel)", n_time, embed_max,
    )  # fmt: skip
    return _live_panel(view)


def _embedded(layout, n_states: int):
    """``layout.embed(...)`` with every stylesheet inline (panel's own links them from its CDN)."""
    bokeh_document = require_extra("bokeh.document")
    bokeh_models = require_extra("bokeh.models")
    comms = require_extra("pyviz_comms")
    pn_embed = require_extra("panel.io.embed")
    pn_notebook = require_extra("panel.io.notebook")
    pn_resources = require_extra("panel.io.resources")
    pn = require_extra("panel")

    doc = bokeh_document.Document()
    with pn.config.set(embed=True, inline=True), pn_resources.set_resource_mode("inline"):
        model = layout.get_root(doc, comms.Comm())
        pn_embed.embed_state(
            layout, model, doc, max_states=n_states, max_opts=n_states, progress=False
        )
    for sub in model.select({"type": bokeh_models.UIElement}):
        pn_notebook.patch_inline_stylesheets(sub)
    return pn_notebook.Mimebundle(pn_notebook.render_model(model))


def _live_panel(view):
    """A slider under the grid whose released value (``value_throttled``) picks the frame."""
    hv = require_extra("holoviews")
    pn = require_extra("panel")
    hmaps = list(view)
    keys = list(hmaps[0].keys())
    labels = [str(k[0] if isinstance(k, tuple) else k)[:16] for k in keys]
    slider = pn.widgets.DiscreteSlider(
        label="time", options=dict(zip(labels, range(len(keys)), strict=True)), value=0
    )
    stream = hv.streams.Params(slider, ["value_throttled"], rename={"value_throttled": "frame"})

    def frame_of(hmap):
        return lambda frame: hmap[keys[0 if frame is None else frame]]

    panels = [hv.DynamicMap(frame_of(h), streams=[stream]) for h in hmaps]
    grid = hv.Layout(panels).cols(2 if len(panels) == 4 else len(panels))
    return pn.Column(pn.pane.HoloViews(grid), slider)


# --------------------------------------------------------------------- ensemble members
_MEMBERS_JS = """
const m = member.value, t = time === null ? 0 : time.value;
source.data = Object.assign({}, source.data, {image: [store.data.frames[m * n_time + t]]});
if (obs_source !== null) {
  obs_source.data = Object.assign({}, obs_source.data, {image: [obs_store.data.frames[t]]});
}
figure.title.text = "member " + member_labels[m] + ", " + labels[t];
"""


def _image_figure(values: np.ndarray, grid: xr.DataArray, title: str, colours: dict, width: int):
    """A bokeh figure of one (latitude, longitude) frame styled as :func:`interactive_view`'s
    panels, and the data source of its image (what the sliders swap)."""
    hv = require_extra("holoviews")
    require_extra("holoviews.plotting.bokeh")
    models = require_extra("bokeh.models")
    lon = grid["longitude"].values.astype(np.float64)
    lat = grid["latitude"].values.astype(np.float64)
    vdim = hv.Dimension(title.split(",")[0], unit="°C")
    image = hv.Image((lon, lat, values), kdims=["longitude", "latitude"], vdims=[vdim]).opts(
        backend="bokeh", title=title, frame_width=width, data_aspect=1, colorbar=True,
        clipping_colors={"NaN": CLOUD_GREY}, fontsize={"title": "11pt", "labels": "10pt",
        "ticks": "9pt"}, **colours, **_axis_options(),
    )  # fmt: skip
    fig = hv.render(image, backend="bokeh")
    (renderer,) = [r for r in fig.renderers if isinstance(getattr(r, "glyph", None), models.Image)]
    return fig, renderer.data_source


def members_view(members: xr.DataArray, observation: xr.DataArray | None = None, *,
                 width: int = PANEL_WIDTH):  # fmt: skip
    """The map of one member, a member slider next to the time slider; every frame in the page.

    Parameters
    ----------
    members
        ``<name>_members`` of :func:`unisst_lib.methods.fill.fill` (member, time,
        latitude, longitude), °C, at least 2 members.
    observation
        The observation (NaN under the clouds), shown left of the member, following
        the time slider.
    width
        Width of each map in pixels.

    Returns
    -------
    bokeh.models.Column
        The maps (one °C scale, cmocean ``thermal``, clouds light grey) above a
        ``member`` slider (0 … N − 1) and a ``time`` slider (absent for one frame).
        All N × T frames (rounded to 1/256 °C) are in the page and the sliders swap
        them in the browser (a CustomJS callback): no kernel and no per-state
        rendering, so it works in a saved notebook and costs the data's size (about
        16 kB per 64 × 64 frame).
    """
    models = require_extra("bokeh.models")
    mem = check_members(members)
    if mem.sizes["member"] < 2:
        raise EnsembleInputError(
            f"members has {mem.sizes['member']} member: a member slider needs at least 2 "
            "(fill(..., members=N, keep_members=True) with N >= 2)"
        )
    grid = mem.isel(member=0)
    obs = same_grid(grid, "members", observation=observation)["observation"]
    figs, args = _member_figures(mem, obs, width)
    n_members, n_time = mem.sizes["member"], mem.sizes["time"]
    member = models.Slider(
        start=0, end=n_members - 1, value=0, step=1, title="member", name="member"
    )
    time = None
    if n_time > 1:
        time = models.Slider(
            start=0, end=n_time - 1, value=0, step=1, title="time (frame)", name="time"
        )
    callback = models.CustomJS(args={**args, "member": member, "time": time}, code=_MEMBERS_JS)
    sliders = [s for s in (member, time) if s is not None]
    for slider in sliders:
        slider.js_on_change("value", callback)
    return models.Column(models.Row(*figs), models.Row(*sliders))


def _member_figures(mem: xr.DataArray, obs: xr.DataArray | None, width: int):
    """The figures (observation, member) at member 0, frame 0, and the callback's other
    arguments: their image sources and every frame (``store``: member m, frame t at
    m × T + t), rounded to 1/256 °C."""
    from unisst_lib.views.map_panels import sst_cmap

    models = require_extra("bokeh.models")
    n_members, n_time = mem.sizes["member"], mem.sizes["time"]
    frames = _rounded(mem.values).reshape(n_members * n_time, *mem.shape[2:])
    shown = [("members", frames)] + ([("observation", obs.values)] if obs is not None else [])
    lo, hi = shared_limits(shown, slice(None))
    colours = {"cmap": _hex(sst_cmap()), "clim": (lo, hi), "clabel": "SST (°C)"}
    grid = mem.isel(member=0)
    labels = [str(x)[:16].replace("T", " ") for x in _time_values(grid)]
    member_labels = [str(k) for k in mem["member"].values]
    title = f"member {member_labels[0]}, {labels[0]}"
    fig, source = _image_figure(frames[0], grid, title, colours, width)
    source.name = "member_image"  # to find it in the page
    args = {"source": source, "store": models.ColumnDataSource({"frames": list(frames)}),
            "obs_source": None, "obs_store": None, "figure": fig, "n_time": n_time,
            "labels": labels, "member_labels": member_labels}  # fmt: skip
    if obs is None:
        return [fig], args
    obs_frames = _rounded(obs.values)
    obs_fig, args["obs_source"] = _image_figure(obs_frames[0], grid, "observation", colours, width)
    args["obs_store"] = models.ColumnDataSource({"frames": list(obs_frames)})
    return [obs_fig, fig], args


def _time_values(grid: xr.DataArray) -> np.ndarray:
    """The time coordinate's values, or 0, 1, ... without one."""
    return grid["time"].values if "time" in grid.coords else np.arange(grid.sizes["time"])


def interactive_members(members: xr.DataArray, observation: xr.DataArray | None = None, *,
                        width: int = PANEL_WIDTH):  # fmt: skip
    """:func:`members_view` ready to display in a notebook (after :func:`load_resources`).

    Returns
    -------
    panel.io.notebook.Mimebundle
        The view with its stylesheets inline (no CDN); the sliders need no kernel.
    """
    pn = require_extra("panel")
    view = members_view(members, observation, width=width)
    return _embedded(pn.Column(pn.pane.Bokeh(view)), 1)


@contextlib.contextmanager
def _one_copy(keep_classic: bool) -> Iterator[None]:
    """Drop the ``application/javascript`` twin of outputs that also carry the holoviews mimetype.

    panel publishes its 3 MB script bundle twice (JupyterLab reads one copy, the
    classic Notebook and VS Code the other).
    """
    display = require_extra("IPython.display")
    publish = display.publish_display_data

    def one(data, *args, **kwargs):
        if HOLOVIEWS_LOAD_MIME in data and "application/javascript" in data:
            data = {k: v for k, v in data.items() if k != "application/javascript"}
        return publish(data, *args, **kwargs)

    if not keep_classic:
        display.publish_display_data = one
    try:
        yield
    finally:
        display.publish_display_data = publish


def _in_vscode() -> bool:
    """The kernel runs under VS Code (which reads the ``application/javascript`` copy)."""
    return any(k.startswith("VSCODE_") for k in os.environ)


def load_resources(*, classic_copy: bool | None = None) -> None:
    """Load bokeh's, holoviews' and panel's scripts and stylesheets into the notebook, inline.

    Call it once per notebook, before the first view: the scripts (about 3 MB)
    are written into that one output, never fetched from a CDN, so the views
    work offline. ``classic_copy``: also write the copy the classic Notebook
    and VS Code read (JupyterLab and Notebook 7 read the holoviews copy);
    None: only under VS Code.
    """
    hv = require_extra("holoviews")
    pn = require_extra("panel")
    pn.config.inline = True  # panel's own stylesheets inline too (not linked from its CDN)
    keep = _in_vscode() if classic_copy is None else classic_copy
    with _one_copy(keep):
        hv.extension("bokeh", inline=True)
