"""Matplotlib figures for the notebooks and the README: tornado, claim roll-up, vignette.

Computing and drawing stay apart: :mod:`model.analysis.sensitivity` and
:func:`model.diagnosis.crampmodel.diagnose` compute the tables, these functions only draw them and
return a ``Figure`` (never ``show``). ``python -m model.analysis.sensitivity_plots [OUT.png]``
writes the README's tornado chart (``docs/tornado.png`` by default).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from model.analysis.sensitivity import UNCITED
from model.diagnosis.crampmodel import CrampModel, Diagnosis
from model.reports.charts import BLUE, RED

README_CASE = "P01"  # the README's tornado: left calf cramps at night (calcium low on top)
CASES_FILE = Path(__file__).resolve().parents[2] / "tests" / "data" / "cases.json"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _claims(claims: tuple[str, ...]) -> str:
    return f"  [{', '.join(claims)}]" if claims else "  [elicited]"


def tornado_figure(sweeps: pd.DataFrame, target: str | None = None, *, top: int = 12):
    """A tornado chart of one target of a :func:`~model.analysis.sensitivity.sweep` frame: the
    ``top`` parameters by swing, each a bar from the posterior with the number at the low end of its
    interval to the posterior at the high end (blue half: low end, red half: high end),
    around the posterior at the stated numbers (the vertical line). Labelled with the
    parameter and the claims it cites."""
    target = target or sweeps["target"].iloc[0]
    rows = sweeps[sweeps["target"] == target]
    if rows.empty:
        raise ValueError(f"no sweep rows for target {target!r}; targets: {set(sweeps['target'])}")
    rows = rows.nlargest(top, "swing").iloc[::-1]
    point = float(rows["point"].iloc[0])
    fig = _figure(8.5, 0.8 + 0.34 * len(rows))
    ax = fig.add_subplot()
    y = range(len(rows))
    for end, colour in (("posterior_at_low", BLUE), ("posterior_at_high", RED)):
        ax.barh(y, rows[end] - point, left=point, color=colour, height=0.6)
    ax.axvline(point, color="black", linewidth=1)
    labels = [f"{lab}{_claims(c)}" for lab, c in zip(rows["label"], rows["claims"], strict=True)]
    ax.set_yticks(list(y), labels)
    ax.tick_params(axis="y", labelsize=8)
    case = rows["case"].iloc[0]
    title = f"{case}: " if isinstance(case, str) else ""
    ax.set_title(f"{title}P({target}) = {point:.3f}; each number over its 90% interval", fontsize=9)
    ax.set_xlabel(f"posterior of {target} (blue: number at its low end, red: at its high end)")
    ax.set_xlim(max(0.0, ax.get_xlim()[0]), min(1.0, ax.get_xlim()[1]))
    return fig


def rollup_figure(rollup: pd.DataFrame, *, top: int = 15):
    """Bars of ``swing_sum`` per claim (from :func:`~model.analysis.sensitivity.claim_rollup`), the
    ``top`` claims; ``(none)`` collects the numbers that cite no claim (elicited only)."""
    rows = rollup.nlargest(top, "swing_sum").iloc[::-1]
    fig = _figure(7, 0.8 + 0.3 * len(rows))
    ax = fig.add_subplot()
    colours = ["#999999" if c == UNCITED else RED for c in rows["claim"]]
    ax.barh(range(len(rows)), rows["swing_sum"], color=colours, height=0.6)
    names = ["elicited only" if c == UNCITED else c for c in rows["claim"]]
    ax.set_yticks(range(len(rows)), names)
    ax.set_xlabel("summed swing of the parameters citing the claim (all vignettes, top causes)")
    ax.set_title("Which of the source's claims the conclusions rest on", fontsize=10)
    return fig


def vignette_figure(diagnosis: Diagnosis, title: str = "", *, top: int = 8):
    """Prior and posterior of the ``top`` most probable abnormal cause states of a diagnosis
    (from :meth:`~model.diagnosis.crampmodel.Diagnosis.ranked`), side by side, most probable on
    top."""
    rows = pd.DataFrame(diagnosis.ranked()[:top]).iloc[::-1]
    labels = [f"{c}={s}" for c, s in zip(rows["cause"], rows["state"], strict=True)]
    fig = _figure(6.5, 0.9 + 0.32 * len(rows))
    ax = fig.add_subplot()
    y = pd.Series(range(len(rows)), dtype=float)
    ax.barh(y + 0.2, rows["prior"], height=0.38, color="#bbbbbb", label="prior")
    ax.barh(y - 0.2, rows["posterior"], height=0.38, color=RED, label="posterior")
    ax.set_yticks(list(y), labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.legend(loc="lower right", fontsize=8)
    flags = ", ".join(f.id for f in diagnosis.red_flags)
    ax.set_title(title + (f"\nred flags: {flags}" if flags else ""), fontsize=9)
    return fig


def write_readme_tornado(
    path: str | Path = "docs/tornado.png", model: CrampModel | None = None, *, top: int = 12
) -> Path:
    """Write the README's tornado chart: vignette :data:`README_CASE`, its top cause."""
    from model.analysis.sensitivity import read_vignettes, sweep
    from model.diagnosis.crampmodel import default_model

    model = model or default_model()
    case = next(c for c in read_vignettes(CASES_FILE) if c["id"] == README_CASE)
    rows = sweep(
        model, case["evidence"], case.get("soft_evidence"), case.get("do"), top=1, case=case["id"]
    )
    fig = tornado_figure(rows, top=top)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    print(write_readme_tornado(*sys.argv[1:2]))
