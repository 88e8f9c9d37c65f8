"""The report's charts: matplotlib figures, as inline SVG or as PNG.

The HTML report embeds the SVG text, the PDF report the PNG of the same figure, so both show
the same picture. Each figure is built from the report dict alone: the ranked causes
(``report["causes"]``: posterior as a bar, the 90% interval as a whisker, the prior as a black
tick) and, for a case book's case, the top causes over its timeline (``report["timeline"]``:
one line per cause state followed, each with its own marker and line style, so colour is never
the only cue). No pyplot (no global state, safe in a server); the SVG carries no metadata, no
date and no external link, and is identical from run to run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

BAR = "#c0504d"
WHISKER = "#333333"
PRIOR = "#000000"
# the lines of the timeline chart: colour, marker and line style all differ from line to line
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINE_STYLES = ("-", "--", ":", "-.")
OUTCOME = "#777777"
TICKS_SHOWN = 12  # at most about this many steps labelled on the x axis


def causes_figure(report: Mapping, *, width: float = 6.6):
    """A horizontal bar chart of every abnormal cause state of the report, most probable on top."""
    from matplotlib.figure import Figure

    rows = report["causes"]["rows"]
    level = report["causes"]["interval_level"]
    fig = Figure(figsize=(width, 0.6 + 0.22 * max(len(rows), 1)))
    ax = fig.add_axes((0.34, 0.14 if len(rows) > 4 else 0.3, 0.62, 0.82 if len(rows) > 4 else 0.6))
    y = list(range(len(rows)))[::-1]
    post = [r["posterior"] for r in rows]
    ax.barh(y, post, color=BAR, height=0.6, label="posterior")
    below = [max(r["posterior"] - r["low"], 0.0) for r in rows]
    above = [max(r["high"] - r["posterior"], 0.0) for r in rows]
    ax.errorbar(
        post,
        y,
        xerr=[below, above],
        fmt="none",
        ecolor=WHISKER,
        elinewidth=1,
        capsize=2,
        label=f"{level:.0%} interval",
    )
    ax.scatter([r["prior"] for r in rows], y, marker="|", s=120, color=PRIOR, label="prior")
    ax.set_yticks(y, [r["label"] for r in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        "the model's posterior probability (source's claims; not a diagnosis)", fontsize=8
    )
    ax.tick_params(axis="x", labelsize=8)
    _plain(ax, "x")
    if rows:
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    return fig


def timeline_figure(report: Mapping, *, width: float = 6.6):
    """The cause states followed over a case's timeline (``report["timeline"]``): x is the step
    (numbered as in the timeline table, with its date), y the posterior the model gives now
    for the answers as they stood. A step line per cause state (it holds until the answers next
    change), a marker where they changed, the legend below with the cause labels; outcomes
    are dotted vertical lines (they do not enter the numbers)."""
    from matplotlib.figure import Figure

    section = report["timeline"]
    followed, steps = section["followed"], section["steps"]
    points = [s for s in steps if s["followed_posteriors"] is not None]
    last = len(steps)
    legend_rows = (len(followed) + 1) // 2
    plot_h, bottom_h, legend_h, top_h = 2.0, 0.62, 0.2 * legend_rows + 0.1, 0.12
    height = plot_h + bottom_h + legend_h + top_h
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0.09, (bottom_h + legend_h) / height, 0.88, plot_h / height))
    xs = [s["step"] for s in points]
    for i, cause in enumerate(followed):
        ys = [s["followed_posteriors"][i] for s in points]
        # held until the last step: the picture stays as it is until the answers change
        line_x, line_y = (xs + [last], ys + [ys[-1]]) if xs and xs[-1] < last else (xs, ys)
        ax.plot(
            line_x,
            line_y,
            drawstyle="steps-post",
            color=LINE_COLOURS[i % len(LINE_COLOURS)],
            linestyle=LINE_STYLES[i % len(LINE_STYLES)],
            linewidth=1.4,
            marker=MARKERS[i % len(MARKERS)],
            markevery=list(range(len(xs))),
            markersize=5,
            label=cause["label"],
        )
    for step in (s["step"] for s in steps if s["kind"] == "outcome"):
        ax.axvline(step, color=OUTCOME, linestyle=(0, (1, 2)), linewidth=1.0, zorder=0)
        ax.text(
            step - 0.04,
            0.98,
            "outcome",
            rotation=90,
            va="top",
            ha="right",
            fontsize=6,
            color=OUTCOME,
        )
    every = max(1, -(-last // TICKS_SHOWN))
    ticks = list(range(1, last + 1, every))
    ax.set_xticks(ticks, [f"{k}\n{steps[k - 1]['when'][5:10]}" for k in ticks], fontsize=7)
    ax.set_xlim(0.6, last + 0.4)
    ax.set_ylim(0, 1)
    ax.set_xlabel("step of the case (month-day, UTC)", fontsize=8)
    ax.set_ylabel("probability (the model now)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    _plain(ax, "y")
    if followed:
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -(bottom_h - 0.05) / plot_h),
            ncol=2,
            fontsize=7,
            frameon=False,
            handlelength=3,
        )
    return fig


def figure_svg(fig) -> str:
    """The figure as an ``<svg>`` element to inline in HTML: no prologue, metadata or URI."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "crampnet"}):
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    svg = text[text.index("<svg") :].strip()
    # HTML5 puts an inline <svg> in the SVG namespace by itself: drop the namespace URIs
    return re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)


def figure_png(fig, *, dpi: int = 150) -> bytes:
    """The figure as PNG bytes (for the PDF), without a timestamp."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def svg_size(svg: str) -> tuple[float, float]:
    """Width and height in points of an SVG made by :func:`figure_svg`."""
    found = re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return (float(found[1]), float(found[2])) if found else (0.0, 0.0)


def _plain(ax, axis: str) -> None:
    """The reports' plain axes: light grid lines across ``axis`` behind the data, no top or
    right frame."""
    ax.grid(axis=axis, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
