"""Metric charts for :class:`~aml_jupyter.frontends.widgets.RunDetails`: series, downsampling, PNGs.

A series keeps one metric's values in flat ``array('d')`` buffers, so appending the points of
an incremental read is cheap however long the run logs. Charts are drawn with matplotlib's Agg
canvas directly (a ``Figure`` of the widget's own, never pyplot): no global state, so the
widget's background thread can draw while the notebook uses pyplot. PNGs are transparent, in
colours that read on light and dark themes. Long series are cut to at
most :data:`MAX_DRAWN_POINTS` points keeping each bucket's minimum and maximum, so spikes stay
visible and matplotlib's work is the same at 10,000 points as at 10 million.

numpy, matplotlib and Pillow are imported on first use, in the thread that draws.
"""

from __future__ import annotations

import io
import math
from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Most points a chart draws; longer series keep the min and max of each bucket. A chart's
#: plot area is about 300 px wide, so 500 buckets are more than one per pixel column.
MAX_DRAWN_POINTS = 1000
#: A chart's size in pixels (small: a grid of them must stay light to send and draw).
CHART_WIDTH_PX, CHART_HEIGHT_PX = 360, 220
_DPI = 100


def is_number(value: Any) -> bool:
    """True for values a chart can draw: int, float and bool (not str, None, lists)."""
    return isinstance(value, (int, float))


def format_value(value: Any, limit: int = 40) -> str:
    """A metric value, short: 4 significant digits for floats, as-is for the rest (cut to
    ``limit`` characters)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class MetricSeries:
    """Every value of one metric, oldest first.

    ``kind`` is ``scalar`` (one value per ``run.log``) or ``list`` (``run.log_list``: each call
    replaces the whole series). Numeric values go into :attr:`values`; :attr:`steps` holds
    each value's step (NaN when none was logged). :attr:`version` grows with every change, so
    a chart knows whether it is stale without comparing data.
    """

    def __init__(self, name: str, kind: str = "scalar") -> None:
        self.name = name
        self.kind = kind
        self.values = array("d")
        self.steps = array("d")
        #: True while every numeric value came with a step (then x = step, else x = index).
        self.stepped = True
        self.count = 0
        self.last: Any = None
        self.last_step: int | None = None
        #: When the newest value was logged (seconds since the epoch).
        self.last_time = 0.0
        self.version = 0

    @property
    def numeric(self) -> bool:
        """True when there is at least one number to draw."""
        return len(self.values) > 0

    @property
    def is_series(self) -> bool:
        """True for a scalar metric with two numbers or more: one to chart. A value logged
        once (``C``, ``max_iter``, a final ``accuracy``) belongs in the summary table, and a
        ``log_list`` in a table, as the sidebar's run panel shows it."""
        return self.kind == "scalar" and len(self.values) >= 2

    def add(self, value: Any, step: int | None, at: float) -> None:
        """Append one logged value (non-numbers are counted and shown, not drawn)."""
        self.extend([value], [step], at)

    def extend(self, values: list[Any], steps: list[int | None], at: float) -> None:
        """Append logged values and their steps (None: no step); ``at``: the newest's time."""
        if not values:
            return
        self.count += len(values)
        self.last, self.last_step, self.last_time = values[-1], steps[-1], at
        self.version += 1
        if set(map(type, values)) <= {int, float} and None not in steps:
            self.values.extend(values)  # the common case, at C speed
            self.steps.extend(steps)  # type: ignore[arg-type]
            return
        for value, step in zip(values, steps, strict=True):
            if is_number(value):
                self.values.append(float(value))
                if step is None:
                    self.stepped = False
                    self.steps.append(math.nan)
                else:
                    self.steps.append(float(step))

    def replace(self, values: Any, at: float) -> None:
        """Make the series ``values`` (a logged list), drawn against their index."""
        items = list(values) if isinstance(values, (list, tuple)) else [values]
        self.values = array("d", [float(v) for v in items if is_number(v)])
        self.steps = array("d", [math.nan] * len(self.values))
        self.stepped = False
        self.count = len(items)
        self.last = items[-1] if items else None
        self.last_step = None
        self.last_time = at
        self.version += 1

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """The points to draw: (step or index, value) as float arrays (copies)."""
        import numpy as np

        y = np.array(self.values, dtype=float)
        x = np.array(self.steps, dtype=float) if self.stepped else np.arange(len(y), dtype=float)
        return x, y


def downsample(
    x: np.ndarray, y: np.ndarray, max_points: int = MAX_DRAWN_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of (x, y): the min and the max of each of ``max_points/2``
    equal buckets, in their original order, so a spike in 10,000 points still shows."""
    import numpy as np

    n = len(y)
    if n <= max_points:
        return x, y
    size = -(-n // (max_points // 2))  # points per bucket, rounded up
    buckets = -(-n // size)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = y
    grid = padded.reshape(buckets, size)
    missing = np.isnan(grid)  # NaNs (and the padding) never win a bucket unless all are NaN
    low = np.where(missing, np.inf, grid).argmin(axis=1)
    high = np.where(missing, -np.inf, grid).argmax(axis=1)
    base = np.arange(buckets) * size
    index = np.unique(np.concatenate([base + low, base + high]))
    index = index[index < n]
    return x[index], y[index]


#: Colours that read on a light and a dark notebook alike (the PNG itself is transparent):
#: a mid-tone blue line, and axes, ticks and grid in a neutral grey.
LINE_COLOUR = "#3b8ad8"
AXIS_COLOUR = "#8c8c8c"


class Painter:
    """Draws one metric at a time as a line chart and hands out PNG bytes.

    One ``matplotlib.figure.Figure`` + ``FigureCanvasAgg`` (thread-safe: no pyplot state),
    reused for every metric: the axes are rescaled for each, so a hundred charts cost one
    figure's memory and no figure set-up per draw. The background is transparent and the
    name and last value are not drawn (the widget shows them as themed HTML above the
    image), so a chart reads on JupyterLab's light and dark themes and costs less text.
    """

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self.figure = Figure(figsize=(CHART_WIDTH_PX / _DPI, CHART_HEIGHT_PX / _DPI), dpi=_DPI)
        self.figure.patch.set_alpha(0.0)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.axes.set_facecolor("none")
        (self.line,) = self.axes.plot([], [], linewidth=1.4, color=LINE_COLOUR, markersize=3)
        # Few ticks and small labels: the axis text is a large part of a redraw's cost.
        self.axes.xaxis.set_major_locator(MaxNLocator(4))
        self.axes.yaxis.set_major_locator(MaxNLocator(4))
        self.axes.tick_params(labelsize=7, colors=AXIS_COLOUR)
        for spine in self.axes.spines.values():
            spine.set_color(AXIS_COLOUR)
            spine.set_alpha(0.6)
        self.axes.grid(True, color=AXIS_COLOUR, alpha=0.3, linewidth=0.5)
        self.figure.subplots_adjust(left=0.15, right=0.97, top=0.95, bottom=0.12)

    def render(self, series: MetricSeries) -> bytes:
        """``series`` drawn (downsampled) as a transparent PNG."""
        from PIL import Image as PILImage

        x, y = downsample(*series.xy())
        self.line.set_data(x, y)
        self.line.set_marker("o" if len(y) <= 30 else "")
        self.axes.relim()
        self.axes.autoscale_view()
        self.canvas.draw()
        # Encode the canvas once with Pillow (print_png would draw the figure a second time).
        width, height = self.canvas.get_width_height()
        image = PILImage.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba())
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()
