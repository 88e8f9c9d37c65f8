"""What the what-if explorer shows, as plain data: the app only lays these out.

Every function here is pure over the model and a :class:`~model.scenario.Scenario`, so the
numbers on the page are the numbers a test of this module checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from model.diagnosis.crampmodel import CrampModel, Diagnosis, diagnose, explain
from model.diagnosis.questions import RankedQuestion, rank_questions
from model.diagnosis.scenario import Scenario
from model.inference.uncertainty import LEVEL, posterior_intervals
from model.knowledge.draws import DRAWS
from model.knowledge.schema import DeterministicCPD, NoisyOrCPD, TableCPD

# The explorer's intervals use fewer draws than reports (1000): the draws are most of a
# refresh's server time, and a person waits for every refresh. At 250 draws the 5% and 95%
# quantiles move by about 0.01 between seeds; reports and `crampnet` keep 1000.
PAGE_DRAWS = 250


@dataclass(frozen=True)
class View:
    """One scenario's numbers: the diagnosis, intervals and the ranked next questions."""

    scenario: Scenario
    diagnosis: Diagnosis
    intervals: dict[str, dict[str, dict[str, float]]]
    questions: list[RankedQuestion]
    draws: int = DRAWS
    level: float = LEVEL


def view(
    model: CrampModel,
    scenario: Scenario,
    *,
    cost_weight: float = 0.0,
    draws: int = DRAWS,
    level: float = LEVEL,
) -> View:
    """Everything the explorer shows for one scenario; raises ``EvidenceError`` if impossible."""
    soft = scenario.soft_evidence(model.priors)
    result = diagnose(scenario.evidence, soft, do=scenario.do, model=model)
    intervals = posterior_intervals(
        model.drawn(draws), model.causes, scenario.evidence, soft, do=scenario.do, level=level
    )
    questions = rank_questions(
        model, scenario.evidence, soft, do=scenario.do, cost_weight=cost_weight
    )
    return View(scenario, result, intervals, questions, draws, level)


def cause_rows(model: CrampModel, shown: View) -> pd.DataFrame:
    """Each abnormal cause state: posterior, its interval, prior; most probable first."""
    rows = []
    for row in shown.diagnosis.ranked():
        cause, state = row["cause"], row["state"]
        interval = shown.intervals[cause][state]
        rows.append(
            {
                "cause": f"{model.priors.nodes[cause].label}: {state}",
                "id": f"{cause}={state}",
                "posterior": row["posterior"],
                "low": interval["low"],
                "high": interval["high"],
                "prior": row["prior"],
                "change": row["posterior"] - row["prior"],
            }
        )
    return pd.DataFrame(rows)


@lru_cache(maxsize=8)
def _edge_claims(model: CrampModel) -> dict[tuple[str, str], tuple[str, ...]]:
    """Claims cited on each link parent -> child of the network."""
    out: dict[tuple[str, str], set[str]] = {}
    for child, spec in model.priors.nodes.items():
        cpd = spec.cpd
        for parent in spec.parents:
            claims: set[str] = set()
            if isinstance(cpd, NoisyOrCPD):
                for by_state in cpd.links.get(parent, {}).values():
                    for param in by_state.values():
                        claims |= set(param.claims)
                for inter in cpd.interactions:
                    if parent in inter.when:
                        claims |= {c for p in inter.towards.values() for c in p.claims}
            elif isinstance(cpd, TableCPD):
                claims |= {c for row in cpd.rows for c in row.claims}
            elif isinstance(cpd, DeterministicCPD):
                claims |= set(cpd.claims) | set(spec.claims)
            out[(parent, child)] = claims
    return {k: tuple(sorted(v, key=lambda c: int(c[1:]))) for k, v in out.items()}


def _paths(model: CrampModel, start: str, end: str) -> set[tuple[str, str]]:
    """The links on every directed path from ``start`` to ``end`` (empty if none)."""
    children: dict[str, list[str]] = {n: [] for n in model.priors.nodes}
    for n, spec in model.priors.nodes.items():
        for p in spec.parents:
            children[p].append(n)
    edges: set[tuple[str, str]] = set()

    def reaches(node: str, seen: frozenset) -> bool:
        if node == end:
            return True
        found = False
        for child in children[node]:
            if child not in seen and reaches(child, seen | {child}):
                edges.add((node, child))
                found = True
        return found

    reaches(start, frozenset({start}))
    return edges


def why(model: CrampModel, shown: View, cause: str, state: str) -> dict:
    """For one cause state: each answer's signed effect, and the claims on the links between.

    ``contributions`` lists answers with the posterior without them and the change they
    made; ``claims`` lists, for the links on the paths joining each answer to the cause
    (risk factor -> cause, or cause -> finding), the claim ids with their plain-words text
    and section.
    """
    d = shown.diagnosis
    key = f"{cause}={state}"
    explained = d.explanation.get(key) or explain(
        model, d.evidence, d.soft_evidence, d.posterior, [(cause, state)], d.interventions
    ).get(key)
    contributions = explained["contributions"] if explained else []
    links: dict[tuple[str, str], tuple[str, ...]] = {}
    edge_claims = _edge_claims(model)
    for answer in {**d.evidence, **d.soft_evidence, **d.interventions}:
        for a, b in (answer, cause), (cause, answer):
            for edge in _paths(model, a, b):
                links[edge] = edge_claims.get(edge, ())
    claims = []
    for claim_id in sorted({c for cs in links.values() for c in cs}, key=lambda c: int(c[1:])):
        claim = model.priors.claims[claim_id]
        claims.append(
            {
                "id": claim_id,
                "section": claim.section,
                "text": claim.text,
                "links": sorted(f"{p} -> {c}" for (p, c), cs in links.items() if claim_id in cs),
            }
        )
    return {
        "cause": cause,
        "state": state,
        "posterior": d.posterior[cause][state],
        "prior": d.prior[cause][state],
        "contributions": contributions,
        "claims": claims,
    }


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


def node_marginals(model: CrampModel, shown: View) -> dict[str, dict[str, float]]:
    """The posterior of every node of the network under the scenario."""
    d = shown.diagnosis
    nodes = list(model.priors.nodes)
    return model.engine.posteriors(nodes, d.evidence, d.soft_evidence, d.interventions)


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
    prior = _prior_marginals(model)
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


@lru_cache(maxsize=8)
def _prior_marginals(model: CrampModel) -> dict[str, dict[str, float]]:
    return model.engine.posteriors(list(model.priors.nodes), {})


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
    ids = set(spec.claims) | {
        c for p in spec.parents for c in _edge_claims(model).get((p, node), ())
    }
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
