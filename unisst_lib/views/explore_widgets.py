"""The ipywidgets app of notebook ``02_mask_exploration``: threshold and time sliders.

:class:`ExplorerWidgets` wires two sliders (LWP threshold in g m-2, frame) to a
:class:`unisst_lib.views.explore.MaskExplorer`: moving either recomputes the
occlusion-rate readout and the frame figure
(:func:`unisst_lib.views.explore_figures.frame_figure`). The computations stay in
:mod:`unisst_lib.views.explore`; ipywidgets (the ``notebooks`` extra) is imported
only when an app is built.
"""

from __future__ import annotations

from typing import Any

from unisst_lib.core.errors import ThresholdError
from unisst_lib.data.masks import check_threshold_gm2
from unisst_lib.views.explore import MaskExplorer
from unisst_lib.views.explore_figures import figure_png

#: CSS classes of the widgets (for styling and browser tests).
CSS_THRESHOLD = "unisst-threshold"
CSS_TIME = "unisst-time"
CSS_READOUT = "unisst-readout"
CSS_FRAME = "unisst-frame"
#: Width of each slider (two fit side by side in a ~900 px column; they wrap below that).
SLIDER_WIDTH = "420px"


class ExplorerWidgets:
    """Sliders for the LWP threshold (g m-2) and the frame, a readout and the frame figure.

    Moving either slider recomputes :meth:`MaskExplorer.frame` and sets the readout
    (a ``Label`` with CSS class ``unisst-readout``, text
    :func:`~unisst_lib.views.explore.format_readout`) and the figure (an ``Image``
    holding :meth:`MaskExplorer.frame_figure` as PNG, so no interactive matplotlib
    backend is needed). The sliders carry the CSS classes
    ``unisst-threshold`` and ``unisst-time``; ``box`` is what a notebook displays:
    the sliders (``controls``, wrapping onto two lines in a narrow column) above the
    readout and the picture (at most the column's width).

    Parameters
    ----------
    explorer
        The sequence and its clouds.
    threshold_gm2, time_index
        Initial slider values (g m-2, frame index).
    threshold_range_gm2, step_gm2
        The threshold slider's range and step, g m-2.
    dpi
        Resolution of the frame figure.
    """

    def __init__(
        self,
        explorer: MaskExplorer,
        *,
        threshold_gm2: float = 70.0,
        time_index: int = 0,
        threshold_range_gm2: tuple[float, float] = (40.0, 100.0),
        step_gm2: float = 0.5,
        dpi: int = 100,
    ) -> None:
        import ipywidgets as widgets

        thr = check_threshold_gm2(threshold_gm2)
        lo, hi = (check_threshold_gm2(v) for v in threshold_range_gm2)
        if not lo <= thr <= hi:
            raise ThresholdError(
                f"threshold {thr:g} g m-2 is outside the slider's range {lo:g}..{hi:g} g m-2: "
                "pass a threshold inside it or widen threshold_range_gm2."
            )
        self.explorer = explorer
        self.dpi = int(dpi)
        style = {"description_width": "initial"}
        self.threshold = widgets.FloatSlider(
            value=thr,
            min=lo,
            max=hi,
            step=step_gm2,
            description="LWP threshold (g m⁻²)",
            readout_format=".1f",
            continuous_update=False,
            style=style,
            layout=widgets.Layout(width=SLIDER_WIDTH, max_width="100%"),
        )
        self.time = widgets.IntSlider(
            value=explorer.check_time(time_index),
            min=0,
            max=explorer.n_frames - 1,
            step=1,
            description="frame",
            continuous_update=False,
            style=style,
            layout=widgets.Layout(width=SLIDER_WIDTH, max_width="100%"),
        )
        self.readout = widgets.Label(value="")
        # Never wider than the output column: the PNG shrinks with it, keeping its aspect.
        self.image = widgets.Image(
            format="png", layout=widgets.Layout(max_width="100%", height="auto")
        )
        self.threshold.add_class(CSS_THRESHOLD)
        self.time.add_class(CSS_TIME)
        self.readout.add_class(CSS_READOUT)
        self.image.add_class(CSS_FRAME)
        self.threshold.observe(self.update, names="value")
        self.time.observe(self.update, names="value")
        self.update()
        # Sliders above the picture, side by side when the column is wide enough and
        # wrapped one under the other when not (e.g. a 1280 px browser with the file
        # browser open), so neither is ever cut off on the right.
        self.controls = widgets.HBox(
            [self.threshold, self.time],
            layout=widgets.Layout(flex_flow="row wrap", width="100%"),
        )
        self.box = widgets.VBox(
            [self.controls, self.readout, self.image], layout=widgets.Layout(width="100%")
        )

    def update(self, *_: Any) -> None:
        """Recompute the readout and the figure for the sliders' current values."""
        thr, t = self.threshold.value, self.time.value
        self.readout.value = self.explorer.readout(thr, t)
        self.image.value = figure_png(self.explorer.frame_figure(thr, t), dpi=self.dpi)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
