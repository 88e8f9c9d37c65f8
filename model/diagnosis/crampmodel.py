"""``diagnose``: posteriors of every cause, red flags, and why, for one person's answers.

The result is a :class:`Diagnosis`: plain data that the CLI prints, the app shows and the
reports export. It is never a diagnosis in the medical sense: it is what one practitioner's
claims, turned into numbers, say about these answers.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from numbers import Integral
from pathlib import Path

import numpy as np

from model.diagnosis.counterfactual import Counterfactuals, IfFixed
from model.diagnosis.red_flags import RaisedFlag, flag_targets, raised_cautions, raised_flags
from model.errors import EvidenceError
from model.inference.conflict import Conflict, measure_conflict
from model.inference.engine import Engine
from model.inference.evidence import Evidence, Posteriors, SoftEvidence, check_evidence
from model.inference.uncertainty import DrawnPosteriors, drawn_posteriors, rank_first
from model.knowledge.coverage import link_claims
from model.knowledge.draws import DRAWS, draw_tables
from model.knowledge.network import build_network, node_tables
from model.knowledge.priors import Priors, default_priors_dir, load_priors

TOP_EXPLAINED = 5  # abnormal cause states a diagnosis explains answer by answer
TOP_CAUSES = 3  # abnormal cause states a report or a sensitivity sweep looks at
DRAWN_KEPT = 4  # engines over drawn parameter sets kept per model (each ~ tables x draws)
NOISE = 1e-12  # the engine is exact to about 1e-15; smaller moves are rounding, not evidence


class CrampModel:
    """The validated priors and the exact engine over their tables.

    ``tables`` replaces the priors' point tables (a learned or drawn parameter set: the same
    knowledge with other numbers). What it keeps besides: the pgmpy network (built on first
    use for export, pgmpy's own checks and the reference) and the engines over parameter sets
    drawn from the priors' confidence (:meth:`drawn`, the :data:`DRAWN_KEPT` most recent).
    """

    def __init__(self, priors: Priors, tables: Mapping[str, np.ndarray] | None = None):
        self.priors = priors
        self.point_tables = tables is None  # the priors' own numbers (what counterfactuals read)
        self.engine = Engine(
            priors.states,
            {n: tuple(spec.parents) for n, spec in priors.nodes.items()},
            tables if tables is not None else node_tables(priors),
        )
        self._drawn: OrderedDict[tuple[int, int], Engine] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_priors(
        cls, priors: Priors, tables: Mapping[str, np.ndarray] | None = None
    ) -> CrampModel:
        return cls(priors, tables)

    def __repr__(self) -> str:
        return f"CrampModel(priors={self.priors.meta.version!r}, sha256={self.priors.sha256[:12]})"

    @cached_property
    def network(self):
        """The checked pgmpy ``DiscreteBayesianNetwork`` (``check_model`` has run)."""
        return build_network(self.priors)

    def drawn(self, draws: int = DRAWS, seed: int = 0) -> Engine:
        """An engine over ``draws`` parameter sets drawn from the priors' confidence (seeded):
        what posterior intervals are computed on."""
        key = (draws, seed)
        with self._lock:
            found = self._drawn.get(key)
            if found is None:
                found = Engine(
                    self.engine.states, self.engine.parents, draw_tables(self.priors, draws, seed)
                )
                self._drawn[key] = found
                while len(self._drawn) > DRAWN_KEPT:
                    self._drawn.popitem(last=False)
            else:
                self._drawn.move_to_end(key)
        return found

    @cached_property
    def counterfactuals(self) -> Counterfactuals:
        """Twin networks over the priors' mechanisms (:mod:`model.diagnosis.counterfactual`).

        They read the noisy-OR links themselves, so they exist only for a model over the
        priors' own numbers: a model over other tables has no mechanism to read."""
        if not self.point_tables:
            raise ValueError(
                "counterfactual measures read the priors' links; this model was built over "
                "other tables: write them into priors files (crampnet learn) and load those"
            )
        return Counterfactuals(self.priors.nodes, self.engine)

    @property
    def causes(self) -> list[str]:
        return self.priors.ids("cause")

    @property
    def identity(self) -> dict[str, str]:
        """What every output carries to say which model made it."""
        return {"sha256": self.priors.sha256, "version": self.priors.meta.version}

    def abnormal_states(self) -> list[tuple[str, str]]:
        """Every (cause, state) other than the cause's normal state, in priors order."""
        return self.priors.abnormal_states()

    def rank_first(self, posteriors: DrawnPosteriors) -> dict[tuple[str, str], float]:
        """For every abnormal cause state (priors order): the share of the drawn parameter sets
        where the answers are possible in which it has the highest posterior of all abnormal
        cause states (a tie counts for the first in priors order). ``posteriors`` are the
        causes' drawn posteriors (:func:`model.inference.uncertainty.drawn_posteriors`)."""
        return rank_first(posteriors, self.abnormal_states())

    def top_causes(self, posterior: Posteriors, n: int | None = None) -> list[tuple[str, str]]:
        """The abnormal cause states, most probable under ``posterior`` first (``n`` of them)."""
        ranked = sorted(self.abnormal_states(), key=lambda cs: -posterior[cs[0]][cs[1]])
        return ranked if n is None else ranked[:n]

    def check_case(
        self,
        evidence: Mapping[str, object] | None,
        soft_evidence: Mapping[str, Mapping[str, object]] | None = None,
        do: Mapping[str, object] | None = None,
    ) -> tuple[Evidence, SoftEvidence, Evidence]:
        """Validated hard answers, soft answers and interventions; raise an ``EvidenceError``
        if any is bad or a variable is both observed and set by intervention."""
        hard, soft = check_evidence(self.engine.states, evidence, soft_evidence)
        interventions, _ = check_evidence(self.engine.states, do)
        both = sorted(set(interventions) & (set(hard) | set(soft)))
        if both:
            raise EvidenceError(
                f"{', '.join(both)}: both observed and set by intervention; give one"
            )
        return hard, soft, interventions

    @cached_property
    def prior(self) -> Posteriors:
        """Marginals of every cause with no evidence."""
        return self.engine.posteriors(self.causes, {})

    @cached_property
    def node_priors(self) -> Posteriors:
        """Marginals of every node with no evidence."""
        return self.engine.posteriors(list(self.priors.nodes), {})

    @cached_property
    def link_claims(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """The claims cited on each link ``(parent, child)``."""
        return link_claims(self.priors)


def load_model(priors_dir: str | Path | None = None) -> CrampModel:
    """Load, validate and build a model from a priors directory (the built-in one by default)."""
    return CrampModel.from_priors(load_priors(priors_dir))


@lru_cache(maxsize=1)
def default_model() -> CrampModel:
    """The built-in model, built once per process."""
    return load_model(default_priors_dir())


def _log_odds(p: float) -> float:
    return math.log(p) - math.log1p(-p) if 0.0 < p < 1.0 else math.copysign(math.inf, p - 0.5)


@dataclass(frozen=True)
class Contribution:
    """What one answer did to a cause state: its probability without that answer, the signed
    change the answer made (``delta``), and that change on the log-odds scale."""

    variable: str
    answer: str | dict[str, float]  # a state, or likelihoods per state for a soft answer
    without: float
    delta: float
    log_odds_change: float | None  # None when the probability is 0 or 1 with or without it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Explanation:
    """One cause state: its probability now and before any answer, and each answer's part
    (largest first)."""

    cause: str
    state: str
    posterior: float
    prior: float
    contributions: list[Contribution]

    def to_dict(self) -> dict:
        return {
            "posterior": self.posterior,
            "prior": self.prior,
            "contributions": [c.to_dict() for c in self.contributions],
        }


@dataclass(frozen=True)
class Diagnosis:
    """Posterior and prior of every cause, the evidence, red flags and the why, plain data.

    ``rank_first`` holds, for every abnormal cause state, the share of the parameter sets drawn
    from the priors' confidence in which it ranks first (:meth:`CrampModel.rank_first`): how
    far the ranking holds across the model's own uncertainty.
    """

    evidence: Evidence
    soft_evidence: SoftEvidence
    posterior: Posteriors
    prior: Posteriors
    red_flags: list[RaisedFlag]
    explanation: dict[tuple[str, str], Explanation]  # by (cause, state), most probable first
    model: dict[str, str]
    normal_states: dict[str, str] = field(default_factory=dict, repr=False)
    interventions: Evidence = field(default_factory=dict)
    rank_first: dict[tuple[str, str], float] = field(default_factory=dict)
    cautions: dict[str, list[RaisedFlag]] = field(default_factory=dict)  # by trial
    notice: str = ""  # what these numbers are (and are not): shown with every output
    if_fixed: dict[tuple[str, str], IfFixed] = field(default_factory=dict)  # priors order
    conflict: Conflict = field(default_factory=lambda: Conflict(0.0))

    def ranked(self) -> list[dict]:
        """Abnormal cause states, most probable first, with prior and lift."""
        rows = [
            {
                "cause": cause,
                "state": state,
                "posterior": dist[state],
                "prior": self.prior[cause][state],
                "lift": dist[state] / self.prior[cause][state]
                if self.prior[cause][state]
                else None,
            }
            for cause, dist in self.posterior.items()
            for state in dist
            if state != self.normal_states.get(cause)
        ]
        return sorted(rows, key=lambda r: -r["posterior"])

    def ranked_if_fixed(self) -> list[tuple[str, str]]:
        """Abnormal cause states by how many present features putting each right alone would
        be expected to stop (expected disablement), most first; ties by probability."""
        return sorted(
            self.if_fixed,
            key=lambda cs: (-self.if_fixed[cs].expected_disablement, -self.posterior[cs[0]][cs[1]]),
        )

    def to_dict(self) -> dict:
        """The JSON shape of ``crampnet diagnose --json`` (``interventions`` only when set)."""
        out = {
            "notice": self.notice,
            "evidence": {**self.evidence, **self.soft_evidence},
            "posterior": self.posterior,
            "prior": self.prior,
            "rank_first": {f"{c}={s}": share for (c, s), share in self.rank_first.items()},
            "if_fixed": {f"{c}={s}": m.to_dict() for (c, s), m in self.if_fixed.items()},
            "red_flags": [{"id": f.id, "message": f.message} for f in self.red_flags],
            "cautions": {
                trial: [{"id": c.id, "title": c.title, "message": c.message} for c in raised]
                for trial, raised in self.cautions.items()
            },
            "conflict": self.conflict.to_dict(),
            "explanation": {f"{c}={s}": e.to_dict() for (c, s), e in self.explanation.items()},
            "model": self.model,
        }
        if self.interventions:
            out["interventions"] = dict(self.interventions)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def explain(
    model: CrampModel,
    evidence: Evidence,
    soft: SoftEvidence,
    posterior: Posteriors,
    targets: list[tuple[str, str]],
    do: Evidence | None = None,
) -> dict[tuple[str, str], Explanation]:
    """How much each answer moved each target: posterior with and without it, signed.

    All leave-one-out posteriors come from one batched query.
    """
    answers: dict[str, object] = {**evidence, **soft}
    rows = [{k: v for k, v in answers.items() if k != var} for var in answers]
    marginals, _ = model.engine.query(model.causes, rows, do) if rows else ({}, None)
    without = {
        var: {
            c: dict(zip(model.priors.nodes[c].states, marginals[c][r], strict=True))
            for c in model.causes
        }
        for r, var in enumerate(answers)
    }
    out = {}
    for cause, state in targets:
        p = posterior[cause][state]
        contributions = []
        for var, answer in answers.items():
            if var == cause:
                continue
            q = float(without[var][cause][state])
            if abs(p - q) < NOISE:  # an answer that moves nothing: exactly zero, not float noise
                q = p
            change = _log_odds(p) - _log_odds(q)
            contributions.append(
                Contribution(var, answer, q, p - q, change if math.isfinite(change) else None)
            )
        contributions.sort(key=lambda c: -abs(c.delta))
        out[(cause, state)] = Explanation(cause, state, p, model.prior[cause][state], contributions)
    return out


def diagnose_drawn(
    evidence: Mapping[str, object] | None = None,
    soft_evidence: Mapping[str, Mapping[str, object]] | None = None,
    *,
    do: Mapping[str, object] | None = None,
    model: CrampModel | None = None,
    top: int = TOP_EXPLAINED,
    draws: int = DRAWS,
    seed: int = 0,
) -> tuple[Diagnosis, DrawnPosteriors]:
    """:func:`diagnose`, and the causes' posteriors under the drawn parameter sets its
    ``rank_first`` comes from: for a caller that reads intervals off the same draws
    (:func:`model.inference.uncertainty.intervals_of`) rather than query them again."""
    if isinstance(draws, bool) or not isinstance(draws, Integral) or draws < 1:
        raise ValueError(f"The 'draws' parameter must be a positive integer. Got {draws!r}.")
    model = model or default_model()
    hard, soft, interventions = model.check_case(evidence, soft_evidence, do)
    targets = list(dict.fromkeys(model.causes + flag_targets(model.priors)))
    full = model.engine.posteriors(targets, hard, soft, interventions)
    posterior = {c: full[c] for c in model.causes}
    normals = {c: model.priors.nodes[c].normal_state for c in model.causes}
    ranked = model.top_causes(posterior)
    drawn = drawn_posteriors(model.drawn(draws, seed), model.causes, hard, soft, do=interventions)
    result = Diagnosis(
        evidence=hard,
        soft_evidence=soft,
        posterior=posterior,
        prior=model.prior,
        red_flags=raised_flags(model.priors, hard, full),
        explanation=explain(model, hard, soft, posterior, ranked[:top], interventions),
        model=model.identity,
        normal_states=normals,
        interventions=interventions,
        rank_first=model.rank_first(drawn),
        cautions=raised_cautions(model.priors, hard, full),
        notice=model.priors.meta.notice,
        if_fixed=model.counterfactuals.if_fixed(hard, soft, interventions),
        conflict=measure_conflict(model.engine, hard, soft, interventions),
    )
    return result, drawn


def diagnose(
    evidence: dict[str, object] | None = None,
    soft_evidence: dict[str, dict[str, object]] | None = None,
    *,
    do: dict[str, object] | None = None,
    model: CrampModel | None = None,
    top: int = TOP_EXPLAINED,
    draws: int = DRAWS,
    seed: int = 0,
) -> Diagnosis:
    """Posterior of every cause given the answers; raise an ``EvidenceError`` on bad evidence.

    ``evidence`` maps node ids to states (any node, causes included); ``soft_evidence`` maps
    node ids to a likelihood per state; ``do`` sets variables by intervention ("if you started
    taking calcium", not "if you observed"): their incoming links are cut, so what caused
    them is not inferred from them. The ``top`` most probable abnormal cause states are
    explained answer by answer. ``rank_first`` comes from ``draws`` parameter sets drawn from
    the priors' confidence with ``seed`` (the model's cached engine, :meth:`CrampModel.drawn`):
    one batched query over the draws, most of a call's time (the first call on a model also
    draws the tables).
    """
    return diagnose_drawn(
        evidence, soft_evidence, do=do, model=model, top=top, draws=draws, seed=seed
    )[0]
