"""``model.reports.explorer``: every number the what-if page shows, checked against the model API.

Each panel's data is recomputed here another way (``diagnose``, ``posterior_intervals``,
``rank_first`` over the drawn posteriors, leave-one-out ``diagnose``, pgmpy's tables, ``crampnet
diagnose`` on the downloaded case) and must agree exactly (to float rounding).
"""

from __future__ import annotations

import json
import math
from functools import cache

import networkx as nx
import pydot
import pytest

from model import EvidenceError, ImpossibleEvidenceError, default_model, diagnose
from model.cli.crampnet import main as crampnet
from model.diagnosis.scenario import Scenario
from model.diagnosis.view import PAGE_DRAWS, view, why
from model.inference.uncertainty import drawn_posteriors, posterior_intervals, rank_first
from model.knowledge.draws import DRAWS
from model.reports.explorer import (
    case_json,
    cause_rows,
    compare,
    network_dot,
    node_claims,
    node_table,
)

pytestmark = pytest.mark.filterwarnings("ignore::Warning:pydot.*")  # pyparsing deprecations

MODEL = default_model()
PRIORS = MODEL.priors

SCENARIOS = {
    "empty": Scenario(),
    "sides": Scenario(evidence={"leg_cramp_side": "left", "nocturnal_cramps": "yes"}),
    "soft": Scenario(
        evidence={"calcium_trial": "improved", "female": "yes"},
        probably={"toe_cramps": "yes", "low_fluid_intake": "no"},
    ),
    "do": Scenario(
        evidence={"leg_cramp_side": "both", "strenuous_exercise": "yes"},
        probably={"hand_arm_cramps": "yes"},
        do={"calcium_supplements": "yes", "magnesium": "low"},
    ),
}


@cache
def shown(name: str):
    return view(MODEL, SCENARIOS[name])


def api(s: Scenario, **kwargs):
    return diagnose(s.evidence, s.soft_evidence(PRIORS), do=s.do, model=MODEL, **kwargs)


def graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(PRIORS.nodes)
    g.add_edges_from((p, c) for c, spec in PRIORS.nodes.items() for p in spec.parents)
    return g


# --- cause rows ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cause_rows_equal_diagnose_and_posterior_intervals(name):
    scenario = SCENARIOS[name]
    table = cause_rows(MODEL, shown(name))
    d = api(scenario)
    ranked = d.ranked()
    assert list(table["id"]) == [f"{r['cause']}={r['state']}" for r in ranked]
    assert len(table) == len(MODEL.abnormal_states())
    assert list(table["cause"]) == [
        f"{PRIORS.nodes[r['cause']].label}: {r['state']}" for r in ranked
    ]
    assert list(table["posterior"]) == pytest.approx([r["posterior"] for r in ranked], abs=1e-12)
    assert list(table["prior"]) == pytest.approx([r["prior"] for r in ranked], abs=1e-12)
    assert list(table["change"]) == pytest.approx(
        [r["posterior"] - r["prior"] for r in ranked], abs=1e-12
    )
    intervals = posterior_intervals(
        MODEL.drawn(DRAWS),
        MODEL.causes,
        scenario.evidence,
        scenario.soft_evidence(PRIORS),
        do=scenario.do,
    )
    shares = rank_first(
        drawn_posteriors(
            MODEL.drawn(DRAWS),
            MODEL.causes,
            scenario.evidence,
            scenario.soft_evidence(PRIORS),
            do=scenario.do,
        ),
        MODEL.abnormal_states(),
    )
    for row in table.itertuples():
        cause, state = row.id.split("=")
        assert row.low == pytest.approx(intervals[cause][state]["low"], abs=1e-12)
        assert row.high == pytest.approx(intervals[cause][state]["high"], abs=1e-12)
        assert row.rank_first == shares[(cause, state)] == d.rank_first[(cause, state)]
    assert table["rank_first"].sum() == pytest.approx(1.0, abs=1e-12)
    # posteriors are sorted, and every number is a probability
    assert list(table["posterior"]) == sorted(table["posterior"], reverse=True)
    assert ((table[["posterior", "low", "high", "rank_first", "prior"]] >= 0).all()).all()
    assert ((table[["posterior", "low", "high", "rank_first", "prior"]] <= 1).all()).all()


def test_view_reads_intervals_and_rank_first_off_one_drawn_query(monkeypatch):
    """The page's draws are queried once per refresh: the intervals and the rank-first shares
    come from the same posteriors (and the diagnosis carries the page's shares)."""
    drawn = MODEL.drawn(PAGE_DRAWS)
    queries = []
    real = drawn.query

    def counted(*args, **kwargs):
        queries.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(drawn, "query", counted)
    scenario = Scenario(evidence={"leg_cramp_side": "right"}, probably={"nocturnal_cramps": "yes"})
    shown_page = view(MODEL, scenario, draws=PAGE_DRAWS)
    assert len(queries) == 1
    monkeypatch.undo()
    soft = scenario.soft_evidence(PRIORS)
    posteriors = drawn_posteriors(drawn, MODEL.causes, scenario.evidence, soft)
    assert shown_page.rank_first == rank_first(posteriors, MODEL.abnormal_states())
    assert shown_page.rank_first is shown_page.diagnosis.rank_first
    assert shown_page.intervals == posterior_intervals(drawn, MODEL.causes, scenario.evidence, soft)
    # the same answers at the reports' draws: diagnose's default
    assert shown("sides").rank_first == api(SCENARIOS["sides"]).rank_first


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_intervals_bracket_the_posterior(name):
    v = shown(name)
    table = cause_rows(MODEL, v)
    assert (table["low"] <= table["high"]).all()
    # the point posterior lies inside the 90% interval of the parameter draws (sanity, not law)
    assert (table["low"] <= table["posterior"] + 1e-9).all()
    assert (table["posterior"] <= table["high"] + 1e-9).all()
    for cause, dist in v.intervals.items():
        assert cause in MODEL.causes
        for band in dist.values():
            assert band["low"] <= band["mean"] <= band["high"]


def test_view_scores_the_scenario_and_ranks_questions():
    v = shown("do")
    d = api(SCENARIOS["do"])
    assert v.diagnosis.posterior == d.posterior
    assert v.diagnosis.interventions == {"calcium_supplements": "yes", "magnesium": "low"}
    asked = {q.variable for q in v.questions}
    assert not asked & SCENARIOS["do"].answered()
    scores = [q.score for q in v.questions]  # best first; within 1e-12 counts as tied
    assert all(a >= b - 1e-12 for a, b in zip(scores, scores[1:], strict=False))


def test_view_raises_on_impossible_or_contradictory_answers():
    # leg_cramp_side is a function of the hidden left/right nodes: 'none' with a left cramp
    with pytest.raises(ImpossibleEvidenceError):
        view(MODEL, Scenario(evidence={"leg_cramp_side": "none", "left_leg_cramps": "yes"}))
    with pytest.raises(EvidenceError):
        view(MODEL, Scenario(evidence={"female": "yes"}, do={"female": "no"}))


# --- why -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sides", "soft", "do"])
def test_why_contributions_are_leave_one_out_diagnoses(name):
    scenario = SCENARIOS[name]
    v = shown(name)
    answers = {**scenario.evidence, **scenario.probably}
    for row in cause_rows(MODEL, v).head(7).itertuples():  # the top 5 are pre-explained
        cause, state = row.id.split("=")
        reason = why(MODEL, v, cause, state)
        assert reason.posterior == pytest.approx(row.posterior, abs=1e-12)
        assert reason.prior == pytest.approx(row.prior, abs=1e-12)
        assert {c.variable for c in reason.contributions} == set(answers) - {cause}
        for c in reason.contributions:
            var = c.variable
            without = api(scenario.with_answer(var, None, how="sure"))
            # with_answer(None) drops the answer whatever kind it was; keep interventions
            assert without.interventions == scenario.do
            expected = without.posterior[cause][state]
            assert c.without == pytest.approx(expected, abs=1e-9)
            assert c.delta == pytest.approx(row.posterior - expected, abs=1e-9)
            shown_answer = scenario.evidence.get(var) or scenario.soft_evidence(PRIORS)[var]
            assert c.answer == shown_answer
        deltas = [abs(c.delta) for c in reason.contributions]
        assert deltas == sorted(deltas, reverse=True)


def test_why_of_the_prior_has_no_contribution_and_no_claim():
    reason = why(MODEL, shown("empty"), "calcium", "low")
    assert reason.contributions == [] and reason.claims == []
    assert reason.posterior == pytest.approx(reason.prior, abs=1e-12)


def test_why_lists_the_claims_on_the_blood_thinner_link():
    v = view(MODEL, Scenario(evidence={"blood_thinners": "yes"}), draws=100)
    reason = why(MODEL, v, "calcium", "low")
    ids = [c.id for c in reason.claims]
    assert {"C24", "C35"} <= set(ids)
    for claim in reason.claims:
        assert claim.links == ["blood_thinners -> calcium"]
        assert claim.text == PRIORS.claims[claim.id].text
    assert reason.contributions[0].variable == "blood_thinners"
    assert reason.contributions[0].delta > 0


@pytest.mark.parametrize("name", ["sides", "soft", "do"])
def test_why_claims_lie_on_paths_between_answers_and_the_cause(name):
    g = graph()
    edge_claims = MODEL.link_claims
    scenario = SCENARIOS[name]
    v = shown(name)
    for cause, state in MODEL.abnormal_states()[:8]:
        reason = why(MODEL, v, cause, state)
        expected: set[str] = set()
        for answer in scenario.answered():
            for a, b in (answer, cause), (cause, answer):
                if a == b:
                    continue
                starts = {a} | nx.descendants(g, a)
                ends = {b} | nx.ancestors(g, b)
                for u, w in g.edges:
                    if u in starts and w in ends:
                        expected |= set(edge_claims[(u, w)])
        ids = [c.id for c in reason.claims]
        assert set(ids) == expected
        assert ids == sorted(ids, key=lambda c: int(c[1:]))
        for claim in reason.claims:
            assert claim.id in PRIORS.claims
            assert claim.section == PRIORS.claims[claim.id].section
            assert claim.links
            for link in claim.links:
                parent, child = link.split(" -> ")
                assert g.has_edge(parent, child)
                assert claim.id in {c["id"] for c in node_claims(MODEL, child)}


# --- compare ---------------------------------------------------------------------------------


def test_compare_is_b_minus_a():
    a = api(SCENARIOS["sides"])
    b = api(SCENARIOS["do"])
    table = compare(MODEL, a, b)
    assert len(table) == len(MODEL.abnormal_states())
    assert set(table["id"]) == {f"{c}={s}" for c, s in MODEL.abnormal_states()}
    for row in table.itertuples():
        cause, state = row.id.split("=")
        got_a, got_b = row.A, row.B
        assert got_a == a.posterior[cause][state]
        assert got_b == b.posterior[cause][state]
        assert row.change == pytest.approx(got_b - got_a, abs=1e-15)
        assert row.cause == f"{PRIORS.nodes[cause].label}: {state}"
    changes = [abs(x) for x in table["change"]]
    assert changes == sorted(changes, reverse=True)
    same = compare(MODEL, a, a)
    assert (same["change"] == 0).all()


# --- network ---------------------------------------------------------------------------------


def parse_dot(text: str) -> tuple[dict[str, dict], list[tuple[str, str, dict]]]:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs and len(graphs) == 1
    g = graphs[0]
    nodes = {}
    for sub in [g, *g.get_subgraphs()]:
        for n in sub.get_nodes():
            if n.get_name() not in ("node", "graph", "edge"):
                nodes[n.get_name()] = n.get_attributes()
    edges = [(e.get_source(), e.get_destination(), e.get_attributes()) for e in g.get_edges()]
    return nodes, edges


@pytest.mark.parametrize("mode", ["posterior", "change"])
@pytest.mark.parametrize("name", ["empty", "soft", "do"])
def test_network_dot_is_valid_and_marks_answers(name, mode):
    scenario = SCENARIOS[name]
    v = shown(name)
    text = network_dot(MODEL, v, mode=mode)
    assert text.startswith("digraph")
    nodes, edges = parse_dot(text)
    assert set(nodes) == set(PRIORS.nodes)
    expected_edges = {(p, c) for c, spec in PRIORS.nodes.items() for p in spec.parents}
    assert {(a, b) for a, b, _ in edges} == expected_edges
    assert len(edges) == len(expected_edges)
    answered = set(scenario.evidence) | set(scenario.probably)
    for node, attrs in nodes.items():
        bold = attrs.get("penwidth") == "3"
        assert bold == (node in answered or node in scenario.do), node
        assert (attrs.get("peripheries") == "2") == (node in scenario.do), node
        assert ("dashed" in attrs["style"]) == (PRIORS.nodes[node].kind == "intermediate")
        assert attrs["fillcolor"].strip('"').startswith("#")
    for parent, child, attrs in edges:
        assert (attrs.get("style") == "dotted") == (child in scenario.do), (parent, child)
    if scenario.do:
        assert any(attrs.get("style") == "dotted" for *_, attrs in edges)
    # cause labels carry the probability of an abnormal state, 2 decimals
    d = api(scenario)
    for cause in MODEL.causes:
        normal = PRIORS.nodes[cause].normal_state
        label = nodes[cause]["label"].strip('"')
        if mode == "posterior":
            assert label.endswith(f"\\n{1 - d.posterior[cause][normal]:.2f}")


def test_network_dot_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        network_dot(MODEL, shown("empty"), mode="colour")


# --- node tables and claims --------------------------------------------------------------------


@pytest.mark.parametrize("node", list(PRIORS.nodes))
def test_node_table_rows_are_distributions_matching_pgmpy(node):
    spec = PRIORS.nodes[node]
    table = node_table(MODEL, node)
    assert len(table) == math.prod(len(PRIORS.nodes[p].states) for p in spec.parents)
    prob_columns = [f"P({s})" for s in spec.states]
    assert list(table.columns) == [*spec.parents, *prob_columns]
    assert table[prob_columns].sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert (table[prob_columns] >= 0).all().all()
    configs = {tuple(r) for r in table[spec.parents].itertuples(index=False)}
    assert len(configs) == len(table)  # every parent configuration once
    cpd = MODEL.network.get_cpds(node)
    for row in table.to_dict("records")[:64]:
        for state in spec.states:
            parents = {p: row[p] for p in spec.parents}
            assert row[f"P({state})"] == pytest.approx(
                cpd.get_value(**{node: state}, **parents), abs=1e-12
            )


def test_node_claims_cover_the_node_and_its_links():
    for node, spec in PRIORS.nodes.items():
        claims = node_claims(MODEL, node)
        ids = [c["id"] for c in claims]
        assert ids == sorted(set(ids), key=lambda c: int(c[1:]))
        assert set(spec.claims) <= set(ids)
        for c in claims:
            assert c["text"] == PRIORS.claims[c["id"]].text
            assert c["section"] == PRIORS.claims[c["id"]].section
    assert {"C24", "C35"} <= {c["id"] for c in node_claims(MODEL, "calcium")}


# --- download ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_case_json_rescores_with_the_cli(name, tmp_path, capsys):
    v = shown(name)
    payload = json.loads(case_json(MODEL, v))
    assert set(payload) == {"case", "result", "intervals", "notice"}
    assert payload["notice"] == PRIORS.meta.notice
    assert payload["result"]["posterior"] == v.diagnosis.posterior
    assert payload["intervals"]["posterior"] == v.intervals
    assert payload["result"]["rank_first"] == {
        f"{c}={s}": share for (c, s), share in v.rank_first.items()
    }
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(payload["case"]), encoding="utf-8")
    capsys.readouterr()
    assert crampnet(["diagnose", str(case_file), "--json"]) == 0
    rescored = json.loads(capsys.readouterr().out)
    d = api(SCENARIOS[name])
    for cause, dist in d.posterior.items():
        for state, value in dist.items():
            assert rescored["posterior"][cause][state] == pytest.approx(value, abs=1e-12)
            assert payload["result"]["posterior"][cause][state] == pytest.approx(value, abs=1e-12)
    assert rescored.get("interventions", {}) == SCENARIOS[name].do
    assert rescored["rank_first"] == payload["result"]["rank_first"]  # the same draws
