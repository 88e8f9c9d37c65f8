"""Which numbers the conclusions rest on: one-way sensitivity, link strengths, claim roll-up.

*One-way sensitivity.* Every free number of the priors (each
:class:`~model.knowledge.schema.Param`: a link strength, leak, interaction or uninformative
constant; and each entry of a full-table
:class:`~model.knowledge.schema.Row`) is set, one at a time, to the low and the high end of its
central 90% interval, and the posteriors of a case's top causes are recomputed. The interval comes
from the number's ``confidence`` ``n``, as in :mod:`model.knowledge.draws`: a number ``p`` is
Beta(n p, n (1 - p)); a row entry ``p_j`` of a Dirichlet(n * row) has the Beta(n p_j,
n (1 - p_j)) marginal, and when it moves to ``q`` the rest of its row is rescaled by
``(1 - q) / (1 - p_j)`` so the row still sums to one with the other entries in the same
proportions. A two-state row has one free number and is listed once (its first live state).
Numbers of exactly 0 or 1, and deterministic definitions, are fixed and not swept.

All 2P parameter sets are answered in one batched pass: the tables are built once with a
leading axis of 2P sets (:func:`model.knowledge.cpt.expand`'s ``value`` hook returns arrays, as
:mod:`model.knowledge.draws` does for random draws), and the engine answers a case under every set
at once.

*Link strength.* For a link parent -> child, the total-variation distance between the child's
distributions under two states of the parent, the largest over pairs of parent states; then
the largest over the other parents' configurations (``strength_max``) and its average weighted
by the product of the other parents' prior marginals (``strength_mean``; exact when those
parents are independent a priori, as the root risk factors behind most nodes are).

*Claim roll-up.* Each parameter cites claims; a claim collects the swings of every parameter
citing it (in full for each claim a parameter cites, so the sums over claims exceed the total)
and the strengths of the links whose parameters cite it.

The source is one practitioner's web page: these numbers say what the model's conclusions
rest on, not what is clinically true.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaincinv

from model.diagnosis.crampmodel import TOP_CAUSES, CrampModel
from model.errors import EvidenceError, ImpossibleEvidenceError, UsageError
from model.inference.engine import Engine
from model.inference.uncertainty import LEVEL
from model.knowledge.cpt import expand
from model.knowledge.params import learnable
from model.knowledge.priors import Priors
from model.knowledge.schema import DeterministicCPD, Node, Param, Row

UNCITED = "(none)"  # the claim column of parameters that cite no claim: elicited only


@dataclass(frozen=True)
class Parameter:
    """One free number of the priors, where it sits and what it rests on.

    ``path`` is the key path inside the node (as in ``priors.where``); for a row entry,
    ``state`` names the entry. ``given`` holds the parent states the number concerns (the
    parent state of a link, the states of an interaction or of a table row).
    """

    node: str
    path: tuple
    value: float
    confidence: float
    claims: tuple[str, ...]
    elicited: str | None
    given: tuple[tuple[str, str], ...]
    state: str | None = None
    source: Param | Row | None = field(repr=False, compare=False, default=None)

    @property
    def parents(self) -> tuple[str, ...]:
        """The parents whose states the number concerns."""
        return tuple(p for p, _ in self.given)

    @property
    def id(self) -> str:
        """A stable id: ``node:dotted.path`` (``[state]`` appended for a row entry)."""
        dotted = ".".join(str(p) for p in self.path)
        return f"{self.node}:{dotted}" + (f"[{self.state}]" if self.state else "")

    @property
    def label(self) -> str:
        """The number in words: which link, leak, interaction or table entry."""
        return describe(self)


def describe(param: Parameter) -> str:
    """A short description, e.g. ``blood_thinners=yes -> calcium=low``."""
    path, node = param.path, param.node
    given = " & ".join(f"{p}={s}" for p, s in param.given)
    if path[:2] in (("cpd", "links"), ("cpd", "interactions")):
        return f"{given} -> {node}={path[-1]}"
    if path[:2] == ("cpd", "leak"):
        return f"leak -> {node}={path[2]}"
    if path[:2] == ("cpd", "uninformative"):
        return f"{node}={param.source.state} (uninformative)"
    if path[:2] == ("cpd", "rows"):
        return f"P({node}={param.state}" + (f" | {given})" if given else ")")
    return f"{node}:{'.'.join(map(str, path))}"


def _live(row: Row) -> list[str]:
    return [s for s, p in row.probs.items() if 0.0 < p < 1.0]


def parameters(priors: Priors) -> list[Parameter]:
    """Every free number of the priors, in the order the priors declare them: the numbers
    of :func:`model.analysis.learning.learnable` (the :class:`Param` and :class:`Row` objects
    themselves, which the ``value`` hook of :func:`model.knowledge.cpt.expand` is called with), a
    row split into its free entries; numbers fixed at 0 or 1, or held with infinite confidence,
    are left out.
    """
    out: list[Parameter] = []
    for (node_id, *rest), item in learnable(priors).items():
        node, path = priors.nodes[node_id], ("cpd", *rest)
        if isinstance(item, Param):
            if 0.0 < item.p < 1.0 and np.isfinite(item.confidence):
                given = _given(node, rest)
                out.append(
                    Parameter(
                        node_id,
                        path,
                        item.p,
                        item.confidence,
                        tuple(item.claims),
                        item.elicited,
                        given,
                        source=item,
                    )
                )
            continue
        live = _live(item)
        if len(live) < 2 or not np.isfinite(item.confidence):
            continue
        ordered = [s for s in node.states if s in live]
        for state in ordered[:1] if len(live) == 2 else ordered:
            out.append(
                Parameter(
                    node_id,
                    path,
                    item.probs[state],
                    item.confidence,
                    tuple(item.claims),
                    item.elicited,
                    tuple(item.when.items()),
                    state=state,
                    source=item,
                )
            )
    return out


def _given(node: Node, rest: list) -> tuple[tuple[str, str], ...]:
    """The parent states a noisy-OR number concerns: a link's parent state, an
    interaction's states; none for a leak or an uninformative constant."""
    if rest[0] == "links":
        return ((rest[1], rest[2]),)
    if rest[0] == "interactions":
        return tuple(node.cpd.interactions[rest[1]].when.items())
    return ()


def interval(value: float, confidence: float, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of Beta(n p, n (1 - p)), ``n`` the confidence."""
    if not 0 < level < 1:
        raise ValueError(f"The 'level' parameter must lie in (0, 1). Got {level!r}.")
    a, b = confidence * value, confidence * (1.0 - value)
    tail = (1.0 - level) / 2.0
    return float(betaincinv(a, b, tail)), float(betaincinv(a, b, 1.0 - tail))


def one_way_tables(
    priors: Priors, settings: Sequence[tuple[Parameter, float]]
) -> dict[str, np.ndarray]:
    """Tables for K parameter sets, shape ``(K, n_states, *parent cardinalities)``: set ``k``
    is the point estimates with the one parameter ``settings[k][0]`` set to ``settings[k][1]``
    (a row entry's row rescaled, see the module docstring)."""
    k_sets = len(settings)
    if k_sets == 0:
        raise ValueError("one_way_tables needs at least one (parameter, value) setting")
    changes: dict[int, list[tuple[int, Parameter, float]]] = {}
    for k, (param, new) in enumerate(settings):
        if not 0.0 <= new <= 1.0:
            raise ValueError(f"{param.id}: {new} is not a probability")
        changes.setdefault(id(param.source), []).append((k, param, float(new)))

    def value(obj: Param | Row) -> float | np.ndarray:
        mine = changes.get(id(obj))
        if isinstance(obj, Param):
            if not mine:
                return obj.p
            out = np.full(k_sets, obj.p)
            for k, _, new in mine:
                out[k] = new
            return out
        base = np.asarray(list(obj.probs.values()), dtype=float)
        if not mine:
            return base
        out = np.tile(base, (k_sets, 1))
        states = list(obj.probs)
        for k, param, new in mine:
            j = states.index(param.state)
            rest = 1.0 - base[j]
            out[k] = base * ((1.0 - new) / rest) if rest > 0 else base
            out[k, j] = new
        return out

    states = {n: spec.states for n, spec in priors.nodes.items()}
    tables = {}
    for node_id, spec in priors.nodes.items():
        table = expand(spec, states, value)
        tables[node_id] = np.broadcast_to(table, (k_sets, *table.shape[-1 - len(spec.parents) :]))
    return tables


@dataclass(frozen=True, eq=False)
class OneWay:
    """Every parameter at both ends of its interval, compiled once into a batched engine.

    Set ``2 i`` holds parameter ``i`` at ``low[i]``, set ``2 i + 1`` at ``high[i]``.
    """

    priors: Priors
    parameters: list[Parameter]
    low: np.ndarray
    high: np.ndarray
    engine: Engine = field(repr=False)
    level: float = LEVEL

    @classmethod
    def build(cls, priors: Priors, level: float = LEVEL) -> OneWay:
        params = parameters(priors)
        ends = np.array([interval(p.value, p.confidence, level) for p in params])
        settings = [(p, v) for p, pair in zip(params, ends, strict=True) for v in pair]
        engine = CrampModel(priors, one_way_tables(priors, settings)).engine
        return cls(priors, params, ends[:, 0], ends[:, 1], engine, level)

    def posteriors(
        self,
        targets: list[str],
        evidence: Mapping[str, str],
        soft: Mapping[str, Mapping[str, float]] | None = None,
        do: Mapping[str, str] | None = None,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{target: (at_low, at_high)}``, each ``(P, n_states)``: the marginals with each
        parameter at its low (high) end."""
        row = {**evidence, **(soft or {})}
        marginals, log_z = self.engine.query(list(targets), [row], do)
        if not np.isfinite(log_z).all():
            raise ImpossibleEvidenceError(self.engine.conflict(row, do))
        return {t: (marginals[t][0::2], marginals[t][1::2]) for t in targets}


@lru_cache(maxsize=4)
def _one_way(model: CrampModel, level: float) -> OneWay:
    return OneWay.build(model.priors, level)


def sweep(
    model: CrampModel,
    evidence: Mapping[str, object] | None = None,
    soft: Mapping[str, Mapping[str, object]] | None = None,
    do: Mapping[str, object] | None = None,
    *,
    targets: Sequence[tuple[str, str]] | None = None,
    top: int = TOP_CAUSES,
    level: float = LEVEL,
    case: str | None = None,
) -> pd.DataFrame:
    """One-way sensitivity of the ``top`` most probable abnormal cause states (or the given
    ``targets``, ``(cause, state)`` pairs) for one case; one row per target and parameter.

    Columns: case, target, point (the posterior at the stated numbers), parameter (id), label,
    node, path, state, claims, elicited, value, confidence, low, high, posterior_at_low,
    posterior_at_high, effect (at_high - at_low: positive when raising the number raises the
    target) and swing (its size). Sorted by target rank, then swing, largest first.
    """
    hard, soft_ok, interventions = model.check_case(evidence, soft, do)
    point = model.engine.posteriors(model.causes, hard, soft_ok, interventions)
    if targets is None:
        targets = model.top_causes(point, top)
    _check_targets(model.priors, targets)
    nodes = list(dict.fromkeys(c for c, _ in targets))
    if any(c not in point for c, _ in targets):
        point = model.engine.posteriors(nodes, hard, soft_ok, interventions)
    one_way = _one_way(model, level)
    swept = one_way.posteriors(nodes, hard, soft_ok, interventions)
    described = _parameter_columns(one_way)
    frames = [
        _target_frame(
            one_way, described, (cause, state), point[cause][state], swept[cause], case=case
        )
        for cause, state in targets
    ]
    return pd.concat(frames, ignore_index=True)


def _check_targets(priors: Priors, targets: Sequence[tuple[str, str]]) -> None:
    """Refuse the first target that is not a state of a node, before anything is computed."""
    for cause, state in targets:
        if cause not in priors.nodes or state not in priors.nodes[cause].states:
            raise EvidenceError(f"target {cause}={state} is not a node state")


def _parameter_columns(one_way: OneWay) -> dict[str, object]:
    """What each swept parameter is and its interval: the columns every target shares."""
    params = one_way.parameters
    return {
        "parameter": [p.id for p in params],
        "label": [p.label for p in params],
        "node": [p.node for p in params],
        "path": [".".join(map(str, p.path)) for p in params],
        "state": [p.state for p in params],
        "claims": [p.claims for p in params],
        "elicited": [p.elicited for p in params],
        "value": [p.value for p in params],
        "confidence": [p.confidence for p in params],
        "low": one_way.low,
        "high": one_way.high,
    }


def _target_frame(
    one_way: OneWay,
    described: Mapping[str, object],
    target: tuple[str, str],
    point: float,
    swept: tuple[np.ndarray, np.ndarray],
    *,
    case: str | None,
) -> pd.DataFrame:
    """One target's rows: its posterior with each parameter at either end, largest swing first."""
    cause, state = target
    j = one_way.priors.nodes[cause].states.index(state)
    at_low, at_high = swept[0][:, j], swept[1][:, j]
    frame = pd.DataFrame(
        {
            "case": case,
            "target": f"{cause}={state}",
            "point": point,
            **described,
            "posterior_at_low": at_low,
            "posterior_at_high": at_high,
            "effect": at_high - at_low,
            "swing": np.abs(at_high - at_low),
        }
    )
    return frame.sort_values("swing", ascending=False, kind="stable")


def link_strengths(model: CrampModel) -> pd.DataFrame:
    """Strength of influence of every link parent -> child (see the module docstring).

    Columns: parent, child, claims (cited by the child's parameters that concern this
    parent, or by a deterministic definition itself), strength_max, strength_mean; sorted by
    strength_max, largest first.
    """
    priors = model.priors
    states = {n: spec.states for n, spec in priors.nodes.items()}
    marginal = model.engine.posteriors(list(priors.nodes), {})
    cited: dict[tuple[str, str], set[str]] = {}
    for param in parameters(priors):
        for parent in param.parents:
            cited.setdefault((parent, param.node), set()).update(param.claims)
    rows = []
    for child, spec in priors.nodes.items():
        if not spec.parents:
            continue
        table = expand(spec, states)
        for axis, parent in enumerate(spec.parents):
            moved = np.moveaxis(table, axis + 1, 0)  # (parent, child, other parents...)
            pairs = itertools.combinations(range(moved.shape[0]), 2)
            tv = np.max(
                [0.5 * np.abs(moved[a] - moved[b]).sum(axis=0) for a, b in pairs], axis=0
            )  # over the other parents' configurations
            others = [p for p in spec.parents if p != parent]
            weight = np.ones(())
            for other in others:
                w = np.array([marginal[other][s] for s in states[other]])
                weight = np.multiply.outer(weight, w)
            claims = set(cited.get((parent, child), set()))
            if isinstance(spec.cpd, DeterministicCPD):
                claims |= set(spec.cpd.claims)  # the definition's own, not the node's
            rows.append(
                {
                    "parent": parent,
                    "child": child,
                    "claims": tuple(sorted(claims, key=_claim_number)),
                    "strength_max": float(np.max(tv)),
                    "strength_mean": float(np.sum(weight * tv)),
                }
            )
    return pd.DataFrame(rows).sort_values("strength_max", ascending=False, ignore_index=True)


def _claim_number(claim: str) -> int:
    return int(claim[1:]) if claim[1:].isdigit() else 10**6


def claim_rollup(sweeps: pd.DataFrame, links: pd.DataFrame | None = None) -> pd.DataFrame:
    """Which claims the conclusions rest on: one row per claim (``(none)`` for parameters
    that cite none), over every row of ``sweeps`` (all its cases and targets).

    Columns: claim, parameters (distinct parameters citing it), swing_sum (sum of swing over
    the rows citing it), swing_max, case_max and target_max (where swing_max was reached),
    and, with ``links``, links (how many links cite it) and link_strength_max. Sorted by
    swing_sum, largest first.
    """
    rows = sweeps.assign(claim=[c if c else (UNCITED,) for c in sweeps["claims"]])
    rows = rows.explode("claim").reset_index(drop=True)
    groups = rows.groupby("claim", sort=False)
    at_max = rows.loc[groups["swing"].idxmax(), ["claim", "case", "target"]]
    out = (
        groups.agg(
            parameters=("parameter", "nunique"),
            swing_sum=("swing", "sum"),
            swing_max=("swing", "max"),
        )
        .reset_index()
        .merge(at_max.rename(columns={"case": "case_max", "target": "target_max"}), on="claim")
    )
    if links is not None:
        per_link = links.explode("claims").dropna(subset=["claims"])
        strength = per_link.groupby("claims").agg(
            links=("child", "size"), link_strength_max=("strength_max", "max")
        )
        out = out.merge(strength, how="outer", left_on="claim", right_index=True)
        out["claim"] = out["claim"].fillna(pd.Series(out.index, index=out.index))
        out = out.fillna({"parameters": 0, "swing_sum": 0.0, "swing_max": 0.0})
        out = out.fillna({"links": 0, "link_strength_max": 0.0})
        out = out.astype({"parameters": int, "links": int})
    return out.sort_values(["swing_sum", "claim"], ascending=[False, True], ignore_index=True)


def read_vignettes(path: str | Path) -> list[dict]:
    """The vignettes of a cases file (``{"cases": [{"id", "title", "evidence", ...}]}``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list):
        raise UsageError(f"{path}: a vignettes file is a JSON object with a 'cases' list")
    return cases


def sweep_vignettes(
    model: CrampModel, cases: Sequence[Mapping], *, top: int = TOP_CAUSES, level: float = LEVEL
) -> pd.DataFrame:
    """:func:`sweep` over many cases (``id``, ``evidence``, ``soft_evidence``, ``do``), one
    frame; the parameter sets are compiled once and shared."""
    frames = [
        sweep(
            model,
            c.get("evidence"),
            c.get("soft_evidence"),
            c.get("do"),
            top=top,
            level=level,
            case=c.get("id"),
        )
        for c in cases
    ]
    return pd.concat(frames, ignore_index=True)
