"""Figures of calibration: reliability diagrams and metrics against misspecification.

Drawing only: the numbers come from :mod:`model.analysis.calibration`. Each function returns a
matplotlib ``Figure`` (nothing is shown); ``save_figure`` writes one as PNG.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from model.analysis.calibration import Evaluation

Z90 = 1.645  # half-width of a 90% normal interval, in standard errors


def reliability_figure(
    evaluation: Evaluation,
    *,
    labels: list[str] | None = None,
    ncols: int = 5,
    title: str | None = None,
) -> Figure:
    """One reliability diagram per abnormal cause state (and the pooled ``all``).

    In each panel: observed frequency against mean predicted probability per bin (marker area
    grows with the bin's count), the diagonal of perfect calibration, whiskers for the 90%
    range a calibrated predictor would show with that many cases, and the counts as grey bars
    on a log scale (right axis).
    """
    labels = labels or list(evaluation.reliability)
    metrics = evaluation.metrics.set_index("label")
    nrows = math.ceil(len(labels) / ncols)
    figure = Figure(figsize=(2.9 * ncols, 2.7 * nrows + 0.6), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    for ax, label in zip(axes.flat, labels, strict=False):
        _reliability_panel(ax, evaluation.reliability[label], label, metrics.loc[label])
    _label_grid(axes, len(labels))
    figure.suptitle(
        title
        or f"Reliability of the posteriors ({evaluation.n_cases:,} cases, "
        f"{evaluation.n_bins} bins; grey bars: cases per bin, log scale)",
        fontsize=11,
    )
    return figure


def _count_bars(ax: Axes, table: pd.DataFrame) -> None:
    """Cases per bin as grey bars on a log-scaled twin axis drawn behind ``ax``'s own lines."""
    width = 1.0 / len(table)
    counts = ax.twinx()
    counts.bar(
        table["lower"] + width / 2,
        table["count"].clip(lower=0.8),
        width=width * 0.9,
        color="0.85",
        zorder=0,
    )
    counts.set_yscale("log")
    counts.set_ylim(0.8, max(10.0, table["count"].max() * 30))
    counts.tick_params(labelsize=7, colors="0.5")
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)


def _reliability_panel(ax: Axes, table: pd.DataFrame, label: str, row: pd.Series) -> None:
    """One panel: count bars, then observed against predicted per bin with the 90% whiskers."""
    live = table[table["count"] > 0]
    _count_bars(ax, table)
    p, n = live["mean_predicted"].to_numpy(), live["count"].to_numpy()
    spread = Z90 * np.sqrt(p * (1 - p) / n)
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="0.4")
    ax.errorbar(p, p, yerr=spread, fmt="none", ecolor="tab:blue", alpha=0.35, lw=3)
    ax.plot(p, live["observed"], color="tab:red", lw=1)
    ax.scatter(
        p, live["observed"], s=8 + 60 * np.sqrt(n / max(n.max(), 1)), color="tab:red", zorder=3
    )
    ax.set_title(f"{label}\nECE {row['ece']:.3f}, n {int(row['n']):,}", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.tick_params(labelsize=7)


def _label_grid(axes: np.ndarray, n_panels: int) -> None:
    """Hide the unused panels; axis labels on the bottom row and the left column only."""
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("mean predicted", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("observed frequency", fontsize=8)


def misspecification_figure(table: pd.DataFrame) -> Figure:
    """Pooled metrics against the distance of the truth from the model, one colour per spread.

    Filled markers: the model's posteriors; hollow: the truth's own (the oracle), the best
    any predictor could do on the same cases. Left: log loss regret (model minus oracle);
    middle: ECE; right: top-1 accuracy.
    """
    figure = Figure(figsize=(13, 3.8), layout="constrained")
    axes = figure.subplots(1, 3)
    spreads = list(dict.fromkeys(table["spread"]))
    colours = dict(
        zip(
            spreads,
            ["black", "tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green"],
            strict=False,
        )
    )
    has_oracle = "oracle_log_loss" in table
    panels = [("regret", "log loss regret (nats)"), ("ece", "ECE"), ("top1", "top-1 accuracy")]
    for ax, (column, name) in zip(axes, panels, strict=True):
        if column == "regret" and not has_oracle:
            column, name = "log_loss", "log loss (nats)"
        for spread in spreads:
            rows = table[table["spread"] == spread]
            label = "the model itself" if spread == 0 else f"confidence / {spread:g}"
            ax.scatter(
                rows["distance"], rows[column], color=colours.get(spread, "grey"), label=label, s=22
            )
            if has_oracle and column in ("ece", "top1"):
                ax.scatter(
                    rows["distance"],
                    rows[f"oracle_{column}"],
                    s=22,
                    facecolors="none",
                    edgecolors=colours.get(spread, "grey"),
                )
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    figure.supxlabel("distance of the truth from the model (mean total variation per table column)")
    axes[0].legend(fontsize=8, title="truth drawn with", title_fontsize=8)
    if has_oracle:
        axes[1].set_title("filled: the model; hollow: the truth itself", fontsize=9)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 72) -> Path:
    """Write a figure as PNG (parent directories created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path


def png_bytes(figure: Figure, dpi: int = 72) -> bytes:
    """A figure as PNG bytes (for ``IPython.display.Image`` whatever the backend)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
