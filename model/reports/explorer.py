"""What the what-if explorer shows beyond the numbers of :mod:`model.diagnosis.view`: tables
with labels, the comparison of two scenarios, the network around a cause and as DOT, a node's
table and claims, and the case as JSON. The app only lays these out."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from model.diagnosis.crampmodel import CrampModel, Diagnosis
from model.diagnosis.view import View, node_marginals

CAUSE_ORDERS = ("probability", "if fixed")  # how the Causes view can rank


def view_key(view: str) -> str:
    """The key of the container the explorer draws view ``view`` in ("Ask next" ->
    ``view-ask-next``): what its tests and the browser benchmark find the view by."""
    return "view-" + view.lower().replace(" ", "-")


def cause_rows(model: CrampModel, shown: View, by: str = "probability") -> pd.DataFrame:
    """Each abnormal cause state: posterior, its interval, the share of the draws in which it
    ranks first, prior, and what putting it right alone would stop; ordered ``by`` one of
    :data:`CAUSE_ORDERS` (most probable first, or most features stopped first)."""
    if by not in CAUSE_ORDERS:
        raise ValueError(f"The 'by' parameter must be one of {CAUSE_ORDERS}. Got {by!r}.")
    diagnosis = shown.diagnosis
    order = (
        [(r["cause"], r["state"]) for r in diagnosis.ranked()]
        if by == "probability"
        else diagnosis.ranked_if_fixed()
    )
    rows = []
    for cause, state in order:
        interval = shown.intervals[cause][state]
        fixed = diagnosis.if_fixed[(cause, state)]
        posterior, prior = diagnosis.posterior[cause][state], diagnosis.prior[cause][state]
        rows.append(
            {
                "cause": f"{model.priors.nodes[cause].label}: {state}",
                "id": f"{cause}={state}",
                "posterior": posterior,
                "low": interval["low"],
                "high": interval["high"],
                "rank_first": shown.rank_first[(cause, state)],
                "prior": prior,
                "change": posterior - prior,
                "stops": fixed.expected_disablement,
                "all_stop": fixed.p_all_stop,
                "features": fixed.features,
            }
        )
    return pd.DataFrame(rows)


def compare(model: CrampModel, a: Diagnosis, b: Diagnosis) -> pd.DataFrame:
    """Every abnormal cause state in scenario A and B, and the change from A to B."""
    rows = [
        {
            "cause": f"{model.priors.nodes[c].label}: {s}",
            "id": f"{c}={s}",
            "A": a.posterior[c][s],
            "B": b.posterior[c][s],
            "change": b.posterior[c][s] - a.posterior[c][s],
        }
        for c, s in model.abnormal_states()
    ]
    return pd.DataFrame(rows).sort_values("change", key=abs, ascending=False, ignore_index=True)


def _shade(value: float, signed: bool) -> str:
    """White to red (or blue to white to red when ``signed``), as a hex colour."""
    v = float(np.clip(value, -1.0, 1.0))
    if signed and v < 0:
        r, g, b = 1 + v * 0.6, 1 + v * 0.4, 1.0
    else:
        r, g, b = 1.0, 1 - v * 0.6, 1 - v * 0.7
    return "#{:02x}{:02x}{:02x}".format(*(int(round(255 * x)) for x in (r, g, b)))


def abnormal_mass(model: CrampModel, node: str, dist: Mapping[str, float]) -> float:
    """How far a node is from its normal or 'no' state: the probability of everything else."""
    spec = model.priors.nodes[node]
    normal = spec.normal_state or ("no" if "no" in spec.states else spec.states[0])
    return 1.0 - dist[normal]


def network_dot(model: CrampModel, shown: View, *, mode: str = "posterior") -> str:
    """The network as Graphviz DOT: causes shaded by posterior (or change from prior),
    answered nodes drawn bold, hidden nodes dashed, interventions marked."""
    if mode not in ("posterior", "change"):
        raise ValueError(
            f"The 'mode' parameter must be one of ('posterior', 'change'). Got {mode!r}."
        )
    d = shown.diagnosis
    posterior = node_marginals(model, shown)
    prior = model.node_priors
    answered = set(d.evidence) | set(d.soft_evidence)
    lines = [
        "digraph crampnet {",
        '  rankdir=LR; graph [fontname="Helvetica", nodesep=0.15, ranksep=1.1];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    ]
    for kind, title in (("context", "risk factors"), ("cause", "causes"), ("finding", "findings")):
        lines.append(f'  subgraph cluster_{kind} {{ label="{title}"; color="#dddddd";')
        for n in model.priors.ids(kind) + (
            model.priors.ids("intermediate") if kind == "finding" else []
        ):
            spec = model.priors.nodes[n]
            value = abnormal_mass(model, n, posterior[n])
            shade = value - abnormal_mass(model, n, prior[n]) if mode == "change" else value
            style = '"rounded,filled,dashed"' if spec.kind == "intermediate" else '"rounded,filled"'
            extra = ', penwidth=3, color="#1f4e79"' if n in answered else ""
            if n in d.interventions:
                extra = ', penwidth=3, color="#7b3294", peripheries=2'
            label = f"{spec.label}\\n{value:.2f}" if spec.kind == "cause" else spec.label
            lines.append(
                f'    {n} [label="{label}", fillcolor="{_shade(shade, mode == "change")}",'
                f" style={style}{extra}];"
            )
        lines.append("  }")
    for n, spec in model.priors.nodes.items():
        for p in spec.parents:
            cut = n in d.interventions
            lines.append(f"  {p} -> {n}" + (' [style=dotted, color="#bbbbbb"];' if cut else ";"))
    lines.append("}")
    return "\n".join(lines)


def node_table(model: CrampModel, node: str) -> pd.DataFrame:
    """A node's conditional table: one row per parent configuration, one column per state."""
    spec = model.priors.nodes[node]
    table = model.engine.tables[node]
    parents = spec.parents
    grids = np.indices(table.shape[1:]).reshape(len(parents), -1).T if parents else [[]]
    rows = []
    flat = table.reshape(len(spec.states), -1)
    for k, config in enumerate(grids):
        row = {p: model.priors.nodes[p].states[i] for p, i in zip(parents, config, strict=True)}
        row |= {f"P({s})": float(flat[j, k]) for j, s in enumerate(spec.states)}
        rows.append(row)
    return pd.DataFrame(rows)


def node_claims(model: CrampModel, node: str) -> list[dict]:
    """The claims a node and its incoming links rest on, with text and section."""
    spec = model.priors.nodes[node]
    ids = set(spec.claims) | {c for p in spec.parents for c in model.link_claims.get((p, node), ())}
    return [
        {"id": c, "section": model.priors.claims[c].section, "text": model.priors.claims[c].text}
        for c in sorted(ids, key=lambda c: int(c[1:]))
    ]


def case_json(model: CrampModel, shown: View) -> str:
    """The current case and its posterior, for download: re-scorable with ``crampnet``."""
    payload = {
        "case": shown.scenario.to_case(model.priors),
        "result": shown.diagnosis.to_dict(),
        "intervals": {"level": shown.level, "draws": shown.draws, "posterior": shown.intervals},
        "notice": model.priors.meta.notice,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _shown_state(model: CrampModel, node: str, dist: Mapping[str, float]) -> str:
    """The state a diagram names for a node: its most probable state other than the normal
    one (``yes`` for a yes/no node)."""
    spec = model.priors.nodes[node]
    normal = spec.normal_state or ("no" if "no" in spec.states else None)
    others = [s for s in spec.states if s != normal]
    return max(others, key=lambda s: dist[s])


def neighbourhood(model: CrampModel, shown: View, cause: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cause, what raises it (its parents, left) and what it makes likelier (its children,
    right), each with the state named and its probability under the scenario; for
    :func:`model.reports.charts.neighbourhood_chart`. Returns (nodes, links)."""
    from model.reports.wording import state_word

    d = shown.diagnosis
    spec = model.priors.nodes[cause]
    children = [n for n, s in model.priors.nodes.items() if cause in s.parents]
    marginals = node_marginals(model, shown)
    answered = {**d.evidence, **{v: max(p, key=p.get) for v, p in d.soft_evidence.items()}}
    columns = [(0, list(spec.parents)), (1, [cause]), (2, children)]
    height = max(len(spec.parents), len(children), 1)
    rows = []
    for column, members in columns:
        offset = (height - len(members)) / 2
        for i, node in enumerate(members):
            label = model.priors.nodes[node].label
            if node in d.interventions:
                state = d.interventions[node]
                text, how, value = f"{label}: {state_word(state)} (set)", "set in B", 1.0
            elif node in answered:
                state = answered[node]
                probably = "probably " if node in d.soft_evidence else ""
                text = f"{label}: {probably}{state_word(state)} (answered)"
                how, value = "answered", marginals[node][state]
            else:
                state = _shown_state(model, node, marginals[node])
                value = marginals[node][state]
                text, how = f"{label}: {state_word(state)} {value:.2f}", "not answered"
            rows.append(
                {
                    "node": node,
                    "column": column,
                    "row": offset + i,
                    "text": text,
                    "value": value,
                    "how": how,
                }
            )
    nodes = pd.DataFrame(rows)
    centre = nodes[nodes["column"] == 1].iloc[0]
    links = pd.DataFrame(
        [
            {"x": float(r.column), "y": float(r.row), "x2": 1.0, "y2": float(centre.row)}
            for r in nodes.itertuples()
            if r.column != 1
        ],
        columns=["x", "y", "x2", "y2"],
    )
    return nodes, links
