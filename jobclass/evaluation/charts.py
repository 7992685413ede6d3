"""Charts as inline SVG strings, drawn by matplotlib (its SVG backend, no pyplot, no display).

Used by the retrain report (:mod:`jobclass.evaluation.report`) and the nightly run report
(:mod:`jobclass.airflow.api.run_report`). matplotlib is imported inside the functions, so importing
this module (and parsing a DAG) stays light.

Each SVG is ready to inline in an HTML page: no XML prolog, no metadata, no external reference
(``href`` instead of the SVG 1.1 ``xlink:href``), text kept as text, and its ids prefixed with the
chart's ``key`` so that several charts on one page never share an id.

Thread-safe: the API server draws run reports in several threads at once. Every chart is its own
``Figure`` with its own SVG canvas, styled through its artists, never through matplotlib's global
``rcParams`` (``rc_context`` changes them for the whole process: two threads entering and leaving
it restore each other's settings). The two settings the SVG writer itself reads from ``rcParams``
are this module's renderer's own: text as ``<text>`` (``svg.fonttype: none``) and ids hashed with a
fixed salt (``svg.hashsalt``), so the same chart is the same bytes every time.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

#: Colours of the series, in order (matplotlib's default cycle).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
FONT_SIZE = 9
ID_SALT = "jobclass"
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_IDS = re.compile(r"""(\bid=["']|url\(#|href=["']#)([A-Za-z_][\w.-]*)""")
Series = tuple[str, Sequence[float | None]]


def plain(text: Any) -> str:
    """``text`` as matplotlib shows it literally (a ``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


@cache
def _canvas_class() -> type:
    """An SVG canvas whose renderer keeps text as text and hashes ids with :data:`ID_SALT`, whatever
    the global ``rcParams`` say (made on first use: matplotlib is imported lazily)."""
    import codecs

    from matplotlib import cbook
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG

    class Renderer(RendererSVG):
        def _draw_text_as_path(self, gc, x, y, s, prop, angle, ismath, mtext=None):  # type: ignore[override]
            self._draw_text_as_text(gc, x, y, s, prop, angle, ismath, mtext)  # svg.fonttype "none"

        def _make_id(self, type, content):  # type: ignore[override]  # svg.hashsalt ID_SALT
            return f"{type}{hashlib.sha256(f'{ID_SALT}{content}'.encode()).hexdigest()[:10]}"

    class Canvas(FigureCanvasSVG):
        def print_svg(self, filename, *, bbox_inches_restore=None, metadata=None, **_ignored):  # type: ignore[override]
            # FigureCanvasSVG.print_svg with this module's renderer. The keywords print_figure passes
            # to every backend (dpi, facecolor, orientation...) are unused, as there.
            with cbook.open_file_cm(filename, "w", encoding="utf-8") as out:
                if not cbook.file_requires_unicode(out):
                    out = codecs.getwriter("utf-8")(out)
                dpi = self.figure.dpi
                self.figure.dpi = 72
                width, height = self.figure.get_size_inches()
                svg = Renderer(width * 72, height * 72, out, image_dpi=dpi, metadata=metadata)
                renderer = MixedModeRenderer(self.figure, width, height, dpi, svg,
                                             bbox_inches_restore=bbox_inches_restore)
                self.figure.draw(renderer)
                renderer.finalize()

    return Canvas


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=96, layout="constrained")
    _canvas_class()(figure)
    return figure


def _axes(figure):
    """The figure's one axes, in this module's style: no top and right spines, :data:`FONT_SIZE` text."""
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=FONT_SIZE)
    return axes


def to_svg(figure, key: str) -> str:
    """The figure (made by this module) as an inline ``<svg>`` element (see the module's docstring)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _PROLOG.sub("", buffer.getvalue(), count=1))
    svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "").replace("xlink:href=", "href=")
    safe_key = re.sub(r"[^A-Za-z0-9_-]", "-", key)
    svg = _IDS.sub(lambda m: f"{m.group(1)}{safe_key}-{m.group(2)}", svg)
    return svg.replace("<svg ", f"<svg class=\"chart\" role=\"img\" aria-label=\"{safe_key}\" ", 1).strip()


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, key: str, xlabel: str, ylabel: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
) -> str:
    """One line per series, its points marked; x is categorical (the distinct x values, in order)."""
    xs = sorted({x for _, points in series for x, _ in points})
    figure = _figure(6.0, 3.2)
    axes = _axes(figure)
    for index, (label, points) in enumerate(series):
        positions = [xs.index(x) for x, _ in points]
        (line,) = axes.plot(positions, [y for _, y in points], marker="o", label=plain(label),
                            color=COLOURS[index % len(COLOURS)])
        line.set_gid(f"series-{index}")
    axes.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    axes.set_xlabel(plain(xlabel), fontsize=FONT_SIZE)
    axes.set_ylabel(plain(ylabel), fontsize=FONT_SIZE)
    if ylim:
        axes.set_ylim(*ylim)
    axes.grid(axis="y", color="#ddd")
    axes.legend(loc="lower right", frameon=False, fontsize=FONT_SIZE)
    return to_svg(figure, key)


def bar_chart(
    categories: Sequence[str], series: Sequence[Series], *, key: str, xlabel: str, horizontal: bool = True,
    percent: bool = False,
) -> str:
    """Grouped bars: one group per category, one bar per series (None: no bar). Horizontal bars list
    the categories top to bottom; values are labelled at the bar ends."""
    count = max(len(series), 1)
    size = (7.5, 0.9 + 0.26 * len(categories) * count) if horizontal else (7.5, 3.2)
    figure = _figure(*size)
    axes = _axes(figure)
    thickness = 0.8 / count
    for index, (label, values) in enumerate(series):
        positions = [i + (index - (count - 1) / 2) * thickness for i in range(len(categories))]
        heights = [0.0 if v is None else float(v) for v in values]
        draw = axes.barh if horizontal else axes.bar
        bars = draw(positions, heights, thickness, label=plain(label), color=COLOURS[index % len(COLOURS)])
        for position, bar in enumerate(bars):
            bar.set_gid(f"series-{index}-bar-{position}")
        labels = ["" if v is None else (f"{v:.0%}" if percent else f"{v:.2f}") for v in values]
        axes.bar_label(bars, labels=labels, padding=2, fontsize=7)
    ticks = (axes.set_yticks if horizontal else axes.set_xticks)
    ticks(range(len(categories)), [plain(c) for c in categories])
    if horizontal:
        axes.invert_yaxis()
        axes.set_xlabel(plain(xlabel), fontsize=FONT_SIZE)
        axes.margins(x=0.12)
    else:
        axes.set_xlabel(plain(xlabel), fontsize=FONT_SIZE)
        axes.margins(y=0.15)
    if percent:
        from matplotlib.ticker import PercentFormatter

        (axes.xaxis if horizontal else axes.yaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))
    if len(series) > 1:
        axes.legend(loc="best", frameon=False, fontsize=FONT_SIZE)
    return to_svg(figure, key)
