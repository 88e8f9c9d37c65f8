"""Figures of a learning run: parameter recovery (truth vs prior vs learned) and EM's climb.

Pure drawing over plain numbers (:func:`model.analysis.learning.flat`); matplotlib is imported here
only, so the library never needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def recovery_figure(
    truth: Mapping[str, float],
    prior: Mapping[str, float],
    learned: Mapping[str, float],
    *,
    title: str | None = None,
) -> Figure:
    """Each number's stated (grey) and learned (blue) value against the truth, joined by a
    line: learning helped where the blue end lies nearer the diagonal than the grey one.
    Right: the absolute error of both, sorted, so the whole set can be compared at a glance."""
    labels = [k for k in truth if k in prior and k in learned]
    t = np.array([truth[k] for k in labels])
    p = np.array([prior[k] for k in labels])
    q = np.array([learned[k] for k in labels])
    figure = Figure(figsize=(11, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle=":")
    for ti, pi, qi in zip(t, p, q, strict=True):
        left.plot([ti, ti], [pi, qi], color="#9ecae1", linewidth=0.8)
    left.scatter(t, p, s=12, color="grey", label="stated (prior)")
    left.scatter(t, q, s=12, color="#08519c", label="learned")
    left.set(xlabel="truth", ylabel="value", xlim=(0, 1), ylim=(0, 1), aspect="equal")
    left.legend(loc="upper left")
    left.set_title("each number: prior and learned against the truth")
    right.plot(
        np.sort(np.abs(p - t))[::-1], color="grey", label=f"prior (mean {np.abs(p - t).mean():.3f})"
    )
    right.plot(
        np.sort(np.abs(q - t))[::-1],
        color="#08519c",
        label=f"learned (mean {np.abs(q - t).mean():.3f})",
    )
    right.set(xlabel="numbers, largest error first", ylabel="|value - truth|")
    right.legend()
    right.set_title("absolute error, sorted")
    if title:
        figure.suptitle(title)
    return figure


def history_figure(history: Sequence[float]) -> Figure:
    """The log-posterior after each EM iteration (never falls)."""
    figure = Figure(figsize=(5, 3), layout="constrained")
    ax = figure.subplots()
    ax.plot(range(len(history)), history, marker="o", markersize=3)
    ax.set(xlabel="iteration", ylabel="log-posterior (nats)", title="EM")
    return figure
