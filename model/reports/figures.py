"""The report's chart of ranked causes: one matplotlib figure, as inline SVG or as PNG.

The HTML report embeds the SVG text, the PDF report the PNG of the same figure, so both show
the same picture. The figure is built from the report dict alone (``report["causes"]``):
posterior as a bar, the 90% interval as a whisker, the prior as a black tick. No pyplot (no
global state, safe in a server); the SVG carries no metadata, no date and no external link, and
is identical from run to run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

BAR = "#c0504d"
WHISKER = "#333333"
PRIOR = "#000000"


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
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if rows:
        ax.legend(loc="lower right", fontsize=7, frameon=False)
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
