"""Calibration: do the model's posteriors mean what they say, on cases whose causes are known?

Every metric is computed per *abnormal cause state* (``calcium=low``, ``calcium=high``,
``dehydration=yes``, ...), the rows the diagnosis ranks: the binary event "the cause is in
this state", predicted by its posterior probability ``p``, with outcome ``y`` (1 if it is).
A three-state cause (calcium low/normal/high) therefore gives two rows; the normal state is
the complement of the others and is not scored on its own. Definitions:

* **Brier score**: ``mean((p - y)^2)``, in [0, 1]; 0 is perfect, and predicting the base rate
  ``b`` for everyone scores ``b (1 - b)``. ``prior_brier`` is the Brier score of the model's
  prior marginal (the same prediction for every case, as if nothing were answered), so
  ``skill = 1 - brier / prior_brier`` is the share of that error the answers remove.
* **Log loss**: ``mean(-(y log p + (1 - y) log(1 - p)))`` in nats, with ``p`` clipped to
  ``[EPS, 1 - EPS]`` (``EPS = 1e-12``), so one confident miss costs at most about 27.6 nats
  instead of infinity.
* **Expected calibration error (ECE)**: ``p`` split into ``n_bins`` (10) equal-width bins on
  [0, 1] (``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]``, the last closed); the count-weighted mean,
  over non-empty bins, of ``|mean p in the bin - observed frequency of y in the bin|``. In
  [0, 1]; near 0 when, among cases given ``p``, a share ``p`` is truly in the state.
* **Reliability table**: per bin its bounds, count, mean predicted and observed frequency (NaN
  for an empty bin); the points of a reliability diagram.
* **Top-k accuracy of the ranking**: the abnormal states of the evaluated causes are ranked
  by posterior (ties in priors order). Among cases whose evaluated causes are all known and at
  least one is abnormal, the share in which a truly abnormal state is among the ``k`` highest.
  ``prior_only`` is the same for the ranking by prior probability (one ranking for everyone).

The ``all`` row pools every (case, abnormal state) pair. Truth codes of ``-1`` mean unknown:
that cause is left out for that case. On a cohort simulated from the model itself these
numbers measure self-consistency (the engine and the sampler agree), not clinical accuracy:
the source is one practitioner's web page, not clinical evidence.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pydantic import BaseModel

from model.analysis.sampling import sample_codes
from model.diagnosis.crampmodel import CrampModel
from model.inference.scoring import CHUNK, score_array
from model.knowledge.draws import draw_tables
from model.knowledge.network import node_tables
from model.knowledge.priors import Priors
from model.knowledge.schema import DeterministicCPD, Provenance

EPS = 1e-12
N_BINS = 10
KS = (1, 3)
ALL = "all"


# --- metrics: pure functions of outcomes y (0/1) and predictions p ---------------------------


def _pair(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype=float).ravel(), np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"outcomes and predictions differ in length: {len(y)} and {len(p)}")
    return y, p


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between predicted probability and outcome (0 or 1)."""
    y, p = _pair(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = EPS) -> float:
    """Mean negative log-likelihood of the outcomes in nats, ``p`` clipped to [eps, 1 - eps]."""
    y, p = _pair(y, p)
    if not len(y):
        return float("nan")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> pd.DataFrame:
    """Per equal-width bin of ``p``: bounds, count, mean predicted, observed frequency."""
    y, p = _pair(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=n_bins) / count
        observed = np.bincount(which, weights=y, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "mean_predicted": mean_p,
            "observed": observed,
        }
    )


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> float:
    """Count-weighted mean of ``|mean predicted - observed frequency|`` over the bins."""
    table = reliability_table(y, p, n_bins)
    live = table["count"] > 0
    if not live.any():
        return float("nan")
    gap = (table["mean_predicted"] - table["observed"]).abs()[live]
    return float((gap * table["count"][live]).sum() / table["count"].sum())


def top_k_accuracy(prob: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, int]:
    """Share of rows with at least one true column whose ``k`` highest columns hold one.

    ``prob`` and ``truth`` are ``(rows, columns)``; ties are broken by column order. Returns
    the accuracy (NaN when no row qualifies) and the number of rows that qualify.
    """
    prob, truth = np.asarray(prob, dtype=float), np.asarray(truth, dtype=bool)
    if prob.shape != truth.shape:
        raise ValueError(f"prob and truth differ in shape: {prob.shape} and {truth.shape}")
    eligible = truth.any(axis=1)
    if not eligible.any():
        return float("nan"), 0
    order = np.argsort(-prob[eligible], axis=1, kind="stable")[:, :k]
    hit = np.take_along_axis(truth[eligible], order, axis=1).any(axis=1)
    return float(hit.mean()), int(eligible.sum())


# --- evaluation of posteriors against known causes -------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Calibration of one predictor on one set of cases with known causes.

    ``metrics``: one row per abnormal cause state and a pooled ``all`` row (``n``,
    ``prevalence``, ``mean_predicted``, ``brier``, ``prior_brier``, ``skill``, ``log_loss``,
    ``ece``); ``reliability``: a reliability table per ``cause=state`` and for ``all``;
    ``topk``: ``k``, ``accuracy``, ``prior_only``, ``n`` (cases that qualify);
    ``n_cases`` scored, ``n_impossible`` left out (answers of probability zero).
    """

    metrics: pd.DataFrame
    reliability: dict[str, pd.DataFrame]
    topk: pd.DataFrame
    n_cases: int
    n_impossible: int = 0
    n_bins: int = N_BINS

    def summary(self) -> dict[str, float]:
        """The pooled numbers in one flat dict (``brier``, ``log_loss``, ``ece``, ``top1``...)."""
        pooled = self.metrics.set_index("label").loc[ALL]
        out = {m: float(pooled[m]) for m in ("brier", "log_loss", "ece", "skill")}
        out.update({f"top{int(r.k)}": float(r.accuracy) for r in self.topk.itertuples()})
        return out

    def to_dict(self) -> dict:
        """Plain JSON-ready data (NaN becomes None)."""

        def records(frame: pd.DataFrame) -> list[dict]:
            return [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                for r in frame.astype(object).to_dict(orient="records")
            ]

        return {
            "n_cases": self.n_cases,
            "n_impossible": self.n_impossible,
            "n_bins": self.n_bins,
            "metrics": records(self.metrics),
            "topk": records(self.topk),
            "reliability": {label: records(t) for label, t in self.reliability.items()},
        }


def evaluate_posteriors(
    priors: Priors,
    posterior: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    prior: Mapping[str, np.ndarray],
    *,
    n_bins: int = N_BINS,
    ks: Iterable[int] = KS,
    n_impossible: int = 0,
) -> Evaluation:
    """Metrics of posteriors ``(cases, n_states)`` per cause against truth codes (``-1``:
    unknown), with the prior marginal ``(n_states,)`` per cause as the no-answer baseline."""
    causes = list(posterior)
    states = priors.abnormal_states(causes)
    index = {c: priors.nodes[c].states for c in causes}
    n = len(next(iter(posterior.values()))) if causes else 0
    rows, reliability, pooled_y, pooled_p, pooled_prior = [], {}, [], [], []
    for cause, state in states:
        known = np.asarray(truth[cause]) >= 0
        k = index[cause].index(state)
        y = (np.asarray(truth[cause])[known] == k).astype(float)
        p = np.asarray(posterior[cause])[known, k]
        q = np.full(len(y), float(prior[cause][k]))
        label = f"{cause}={state}"
        rows.append(_metric_row(y, p, q, n_bins=n_bins, label=label, cause=cause, state=state))
        reliability[label] = reliability_table(y, p, n_bins)
        pooled_y.append(y), pooled_p.append(p), pooled_prior.append(q)
    y, p, q = (np.concatenate(a) if a else np.empty(0) for a in (pooled_y, pooled_p, pooled_prior))
    rows.append(_metric_row(y, p, q, n_bins=n_bins, label=ALL))
    reliability[ALL] = reliability_table(y, p, n_bins)

    complete = np.all([np.asarray(truth[c]) >= 0 for c in causes], axis=0) if causes else []
    prob = np.stack([np.asarray(posterior[c])[:, index[c].index(s)] for c, s in states], axis=1)
    hits = np.stack([np.asarray(truth[c]) == index[c].index(s) for c, s in states], axis=1)
    prior_prob = np.broadcast_to([prior[c][index[c].index(s)] for c, s in states], prob.shape)
    topk = []
    for k in ks:
        accuracy, eligible = top_k_accuracy(prob[complete], hits[complete], k)
        baseline, _ = top_k_accuracy(prior_prob[complete], hits[complete], k)
        topk.append({"k": k, "accuracy": accuracy, "prior_only": baseline, "n": eligible})
    return Evaluation(
        metrics=pd.DataFrame(rows),
        reliability=reliability,
        topk=pd.DataFrame(topk, columns=["k", "accuracy", "prior_only", "n"]),
        n_cases=n,
        n_impossible=n_impossible,
        n_bins=n_bins,
    )


def _metric_row(
    y: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    *,
    n_bins: int,
    label: str,
    cause: str = "",
    state: str = "",
) -> dict:
    """One row of the metrics table: outcomes ``y`` scored as predicted by ``p`` and by ``q``."""
    brier, prior_brier = brier_score(y, p), brier_score(y, q)
    return {
        "label": label,
        "cause": cause,
        "state": state,
        "n": len(y),
        "prevalence": float(y.mean()) if len(y) else float("nan"),
        "mean_predicted": float(p.mean()) if len(p) else float("nan"),
        "brier": brier,
        "prior_brier": prior_brier,
        "skill": 1.0 - brier / prior_brier if prior_brier > 0 else float("nan"),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
    }


def predict(
    model: CrampModel,
    answers: np.ndarray,
    columns: list[str],
    causes: list[str] | None = None,
    *,
    chunk_size: int = CHUNK,
    progress: bool | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Posteriors ``(cases, n_states)`` of each cause from answer codes ``(cases, columns)``
    (``-1``: unanswered), scored in chunks, and which cases are possible (others hold NaN).
    ``progress`` shows a bar on stderr (default: when stderr is a terminal)."""
    engine = model.engine
    causes = causes or model.causes
    answers = np.asarray(answers, dtype=np.int16).reshape(-1, len(columns))
    out = {c: np.empty((len(answers), engine.card[c])) for c in causes}
    possible = np.empty(len(answers), dtype=bool)
    chunks = score_array(engine, columns, answers, causes, chunk_size=chunk_size)
    if progress is None:
        progress = sys.stderr.isatty()
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, total=-(-len(answers) // chunk_size), unit="chunk", leave=False)
    for chunk in chunks:
        rows = slice(chunk.start, chunk.start + len(chunk.possible))
        for c in causes:
            out[c][rows] = chunk.marginals[c]
        possible[rows] = chunk.possible
    return out, possible


def evaluate(
    model: CrampModel,
    answers: np.ndarray,
    columns: list[str],
    truth: Mapping[str, np.ndarray],
    *,
    causes: list[str] | None = None,
    n_bins: int = N_BINS,
    ks: Iterable[int] = KS,
    chunk_size: int = CHUNK,
    progress: bool | None = None,
) -> Evaluation:
    """Diagnose each case from its answers and score the posteriors against the known causes.

    ``answers`` holds state indices ``(cases, len(columns))``, ``-1`` where unanswered;
    ``truth`` maps each evaluated cause to its true state index per case (``-1``: unknown);
    ``causes`` defaults to every cause ``truth`` holds. Works for any model or engine built
    from priors (another priors set, learned or drawn tables): the predictor is ``model``, the
    truth whatever made the cases. Cases whose answers are impossible under ``model`` are left
    out and counted.
    """
    engine = model.engine
    causes = causes or [c for c in model.causes if c in truth]
    if not causes:
        raise ValueError(f"no cause to evaluate: truth holds {', '.join(truth) or 'nothing'}")
    posterior, possible = predict(
        model, answers, columns, causes, chunk_size=chunk_size, progress=progress
    )
    prior = engine.run(causes, {})[0]
    return evaluate_posteriors(
        model.priors,
        {c: posterior[c][possible] for c in causes},
        {c: np.asarray(truth[c])[possible] for c in causes},
        {c: prior[c][0] for c in causes},
        n_bins=n_bins,
        ks=ks,
        n_impossible=int((~possible).sum()),
    )


# --- simulated cohorts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """Simulated cases: ``answers`` ``(n, len(columns))`` (``-1``: not revealed) over the
    context and finding ``columns``, and ``truth``, every node's sampled state index."""

    columns: list[str]
    answers: np.ndarray
    truth: dict[str, np.ndarray]


def answerable(priors: Priors) -> list[str]:
    """The nodes a person can answer: context (risk factors) and findings, in priors order."""
    return [n for n, spec in priors.nodes.items() if spec.kind in ("context", "finding")]


def simulate_cohort(
    priors: Priors,
    n: int,
    seed: int = 0,
    *,
    reveal: float = 1.0,
    tables: Mapping[str, np.ndarray] | None = None,
) -> Cohort:
    """``n`` cases forward-sampled from ``priors`` (or from ``tables``, another "truth").

    Reveal rule: each context and finding answer of each case is revealed independently with
    probability ``reveal`` (1.0: every question answered, trials included, whose sampled
    ``not_tried`` says nothing); causes and intermediate nodes are never revealed. The reveal
    mask has its own random stream, so the same seed gives the same cases at every ``reveal``.
    """
    if not 0.0 <= reveal <= 1.0:
        raise ValueError(f"reveal must be a probability in [0, 1], got {reveal}")
    truth = sample_codes(priors, n, seed, tables)
    columns = answerable(priors)
    answers = np.stack([truth[c] for c in columns], axis=1) if n else np.empty((0, len(columns)))
    mask = np.random.default_rng([seed, 1]).random(answers.shape) < reveal
    return Cohort(columns, np.where(mask, answers, -1).astype(np.int16), truth)


def evaluate_cohort(model: CrampModel, cohort: Cohort, **options) -> Evaluation:
    """:func:`evaluate` of ``model`` on a simulated cohort, every cause's truth known."""
    truth = {c: cohort.truth[c] for c in model.causes}
    return evaluate(model, cohort.answers, cohort.columns, truth, **options)


# --- misspecification: the truth drawn from the priors' uncertainty --------------------------


def scale_confidence(priors: Priors, factor: float) -> Priors:
    """The priors with every ``confidence`` divided by ``factor`` (> 0): draws spread wider
    (4: a quarter of the equivalent sample size); the stated numbers stay the same."""
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor}")

    def scaled(obj):
        if isinstance(obj, BaseModel):
            update = {name: scaled(getattr(obj, name)) for name in type(obj).model_fields}
            if isinstance(obj, Provenance):
                update["confidence"] = obj.confidence / factor
            return obj.model_copy(update=update)
        if isinstance(obj, dict):
            return {k: scaled(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(scaled(v) for v in obj)
        return obj

    return replace(priors, nodes={n: scaled(spec) for n, spec in priors.nodes.items()})


def table_distance(
    priors: Priors, truth: Mapping[str, np.ndarray], model: Mapping[str, np.ndarray] | None = None
) -> float:
    """How far a "truth" is from the model: the mean total-variation distance
    (``0.5 * sum |p - q|``, in [0, 1]) between the two conditional distributions of each
    node under each parent configuration, every column of every non-deterministic table
    counting once. 0.1 means that, on average, a tenth of the probability moved."""
    model = model if model is not None else node_tables(priors)
    gaps = [
        0.5 * np.abs(np.asarray(truth[n]) - np.asarray(model[n])).sum(axis=0).ravel()
        for n, spec in priors.nodes.items()
        if not isinstance(spec.cpd, DeterministicCPD)
    ]
    return float(np.concatenate(gaps).mean())


def misspecification(
    model: CrampModel,
    n: int,
    *,
    truths: int = 5,
    spreads: Sequence[float] = (0, 1, 4, 16),
    seed: int = 0,
    reveal: float = 1.0,
    oracle: bool = True,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Pooled metrics of ``model`` on cohorts sampled from truths away from it.

    For each spread factor ``f``, ``truths`` parameter sets are drawn
    (:func:`model.knowledge.draws.draw_tables`, seeded) from the priors with confidence divided by
    ``f`` (``f = 0``: the model itself, one truth, distance 0). From each truth ``n`` cases are
    sampled and diagnosed by ``model``; with ``oracle`` also by the truth's own tables, the
    best any predictor could do on those cases (``oracle_*`` columns). One row per truth:
    ``spread``, ``truth``, ``distance`` (:func:`table_distance`), ``brier``, ``log_loss``,
    ``ece``, ``top1``, ``top3`` and, with the oracle, ``regret = log_loss - oracle_log_loss``.
    """
    priors = model.priors
    point = node_tables(priors)
    rows = []
    for i, spread in enumerate(spreads):
        if spread == 0:
            drawn = [point]
        else:
            tables = draw_tables(scale_confidence(priors, spread), truths, seed=seed + i)
            drawn = [{v: t[j] for v, t in tables.items()} for j in range(truths)]
        for j, truth in enumerate(drawn):
            cohort_seed = int(np.random.SeedSequence([seed, i, j]).generate_state(1)[0])
            cohort = simulate_cohort(priors, n, cohort_seed, reveal=reveal, tables=truth)
            row = {"spread": spread, "truth": j, "distance": table_distance(priors, truth, point)}
            row.update(evaluate_cohort(model, cohort, progress=progress).summary())
            if oracle:
                best = evaluate_cohort(
                    CrampModel(priors, truth), cohort, progress=progress
                ).summary()
                row.update({f"oracle_{k}": v for k, v in best.items()})
                row["regret"] = row["log_loss"] - row["oracle_log_loss"]
            rows.append(row)
    return pd.DataFrame(rows)
