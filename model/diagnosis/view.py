"""The numbers of one scenario, as the explorer and the reports show them: the diagnosis, the
intervals and how often each cause ranks first (both over the same parameter draws), the ranked
next questions (:func:`view`), and why a cause stands where it does (:func:`why`). Pure
functions over the model and a :class:`~model.diagnosis.scenario.Scenario`: the numbers on the
page are the numbers a test of this module checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.diagnosis.crampmodel import (
    Contribution,
    CrampModel,
    Diagnosis,
    diagnose_drawn,
    explain,
)
from model.diagnosis.questions import RankedQuestion, rank_questions
from model.diagnosis.scenario import Scenario
from model.inference.uncertainty import LEVEL, intervals_of
from model.knowledge.draws import DRAWS

# The explorer's intervals use fewer draws than reports (1000): the draws are most of a
# refresh's server time, and a person waits for every refresh. At 250 draws the 5% and 95%
# quantiles move by about 0.01 between seeds; reports and `crampnet` keep 1000.
PAGE_DRAWS = 250


@dataclass(frozen=True)
class View:
    """One scenario's numbers: the diagnosis, intervals and the ranked next questions.

    The intervals and :attr:`rank_first` come from the same ``draws`` parameter sets.
    """

    scenario: Scenario
    diagnosis: Diagnosis
    intervals: dict[str, dict[str, dict[str, float]]]
    questions: list[RankedQuestion]
    draws: int = DRAWS
    level: float = LEVEL

    @property
    def rank_first(self) -> dict[tuple[str, str], float]:
        """For every abnormal cause state: the share of the draws in which it ranks first."""
        return self.diagnosis.rank_first


def view(
    model: CrampModel,
    scenario: Scenario,
    *,
    cost_weight: float = 0.0,
    draws: int = DRAWS,
    level: float = LEVEL,
) -> View:
    """Everything the explorer shows for one scenario; raises ``EvidenceError`` if impossible.

    One query over ``draws`` parameter sets gives both the intervals and ``rank_first``.
    """
    soft = scenario.soft_evidence(model.priors)
    result, drawn = diagnose_drawn(
        scenario.evidence, soft, do=scenario.do, model=model, draws=draws
    )
    intervals = intervals_of(drawn, level)
    questions = rank_questions(
        model,
        scenario.evidence,
        soft,
        do=scenario.do,
        cost_weight=cost_weight,
        cautions=result.cautions,
    )
    return View(scenario, result, intervals, questions, draws, level)


@dataclass(frozen=True)
class LinkedClaim:
    """A claim of the source cited on links that join an answer to the cause explained."""

    id: str
    section: str
    text: str
    links: list[str]  # "parent -> child", sorted


@dataclass(frozen=True)
class Reason:
    """Why one cause state stands where it does: each answer's signed part and the claims on
    the links between the answers and the cause."""

    cause: str
    state: str
    posterior: float
    prior: float
    contributions: list[Contribution]
    claims: list[LinkedClaim]


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


def why(model: CrampModel, shown: View, cause: str, state: str) -> Reason:
    """For one cause state: each answer's signed effect, and the claims on the links between.

    ``contributions`` lists answers with the posterior without them and the change they
    made; ``claims`` lists, for the links on the paths joining each answer to the cause
    (risk factor -> cause, or cause -> finding), the claim ids with their plain-words text
    and section.
    """
    d = shown.diagnosis
    key = (cause, state)
    explained = d.explanation.get(key) or explain(
        model, d.evidence, d.soft_evidence, d.posterior, [key], d.interventions
    ).get(key)
    contributions = explained.contributions if explained else []
    links: dict[tuple[str, str], tuple[str, ...]] = {}
    edge_claims = model.link_claims
    for answer in {**d.evidence, **d.soft_evidence, **d.interventions}:
        for a, b in (answer, cause), (cause, answer):
            for edge in _paths(model, a, b):
                links[edge] = edge_claims.get(edge, ())
    claims = []
    for claim_id in sorted({c for cs in links.values() for c in cs}, key=lambda c: int(c[1:])):
        claim = model.priors.claims[claim_id]
        claims.append(
            LinkedClaim(
                claim_id,
                claim.section,
                claim.text,
                sorted(f"{p} -> {c}" for (p, c), cs in links.items() if claim_id in cs),
            )
        )
    return Reason(
        cause, state, d.posterior[cause][state], d.prior[cause][state], contributions, claims
    )


def node_marginals(model: CrampModel, shown: View) -> dict[str, dict[str, float]]:
    """The posterior of every node of the network under the scenario."""
    d = shown.diagnosis
    nodes = list(model.priors.nodes)
    return model.engine.posteriors(nodes, d.evidence, d.soft_evidence, d.interventions)
