"""The reference: exact posteriors by pgmpy's variable elimination on the pgmpy network.

Not used by ``diagnose`` (the compiled engine of :mod:`model.inference.engine` is), but kept as the
independent path that tests and the benchmark compare the engine against. Same interface as
the engine's ``posteriors``; evidence of probability zero raises
:class:`~model.errors.ImpossibleEvidenceError` naming a smallest set of conflicting answers.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.inference.evidence import Evidence, Posteriors, SoftEvidence

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination
    from pgmpy.models import DiscreteBayesianNetwork


class PgmpyEngine:
    """Variable elimination on a pgmpy network; progress bars off, NaN turned into errors."""

    def __init__(self, network: DiscreteBayesianNetwork):
        self.network = network
        self._ve = VariableElimination(network)
        self._states = {n: network.get_cpds(n).state_names[n] for n in network.nodes}

    def _query(self, targets: list[str], evidence: Evidence, soft: SoftEvidence) -> Posteriors:
        virtual = [
            TabularCPD(
                var,
                len(self._states[var]),
                [[lik[s] / sum(lik.values())] for s in self._states[var]],
                state_names={var: self._states[var]},
            )
            for var, lik in soft.items()
        ]
        free = [t for t in targets if t not in evidence]
        result: Posteriors = {}
        if free:
            # pgmpy's virtual evidence re-initialises the engine on a copy of the network with
            # extra nodes, so a soft query gets an engine of its own and the shared one stays clean
            engine = VariableElimination(self.network) if virtual else self._ve
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                factors = engine.query(
                    free,
                    evidence=evidence or None,
                    virtual_evidence=virtual or None,
                    joint=False,
                    elimination_order="greedy",
                    show_progress=False,
                )
            for var in free:
                names, values = factors[var].state_names[var], factors[var].values
                result[var] = {s: float(v) for s, v in zip(names, values, strict=True)}
        for var in targets:
            if var in evidence:
                result[var] = {s: float(s == evidence[var]) for s in self._states[var]}
        return result

    def _zero_table(self, evidence: Evidence) -> bool:
        """A table whose every variable is observed, at a zero entry: pgmpy drops such
        constants, so the zero would never show as NaN."""
        for cpd in self.network.get_cpds():
            if all(v in evidence for v in cpd.variables):
                index = tuple(cpd.state_names[v].index(evidence[v]) for v in cpd.variables)
                if cpd.values[index] == 0:
                    return True
        return False

    def _possible(self, evidence: Evidence, soft: SoftEvidence) -> bool:
        if self._zero_table(evidence):
            return False
        probe = next((n for n in self._states if n not in evidence), None)
        if probe is None:  # every node observed: the joint is one product of table entries
            return self._joint(evidence) > 0
        marginal = self._query([probe], evidence, soft)[probe]
        return all(np.isfinite(v) for v in marginal.values()) and sum(marginal.values()) > 0

    def posteriors(
        self, targets: list[str], evidence: Evidence, soft: SoftEvidence | None = None
    ) -> Posteriors:
        """Exact marginal of each target given the (already checked) evidence."""
        soft = soft or {}
        result = self._query(list(targets), evidence, soft)
        if self._zero_table(evidence) or any(
            not np.isfinite(p) for dist in result.values() for p in dist.values()
        ):
            raise ImpossibleEvidenceError(self.conflict(evidence, soft))
        if not any(t not in evidence for t in targets) and not self._possible(evidence, soft):
            raise ImpossibleEvidenceError(self.conflict(evidence, soft))
        return result

    def _joint(self, assignment: Evidence) -> float:
        p = 1.0
        for cpd in self.network.get_cpds():
            index = {v: cpd.state_names[v].index(assignment[v]) for v in cpd.variables}
            p *= float(cpd.values[tuple(index[v] for v in cpd.variables)])
        return p

    def conflict(self, evidence: Evidence, soft: SoftEvidence) -> dict[str, object]:
        """A smallest set of answers with probability zero (deletion: drop what is not needed)."""
        keep: dict[str, object] = {**evidence, **soft}
        for var in list(keep):
            trial = {k: v for k, v in keep.items() if k != var}
            hard = {k: v for k, v in trial.items() if isinstance(v, str)}
            lik = {k: v for k, v in trial.items() if not isinstance(v, str)}
            if trial and not self._possible(hard, lik):
                keep = trial
        return keep


# --- an independent copy in pyAgrum -------------------------------------------------------


def _cpd_array(cpd) -> np.ndarray:
    """A pgmpy CPD's table with one axis per variable, in ``cpd.variables`` order."""
    return np.asarray(cpd.values, dtype=float).reshape(cpd.cardinality)


def fill_pyagrum_cpt(potential, cpd) -> None:
    """Copy a pgmpy CPD into a pyAgrum CPT, matching axes by variable name and states by label.

    pyAgrum's ``toarray()`` (and ``fillWith``'s flat order) has its axes in the *reverse* order
    of ``potential.names``; pgmpy's values have axes in ``cpd.variables`` order. Each axis is
    also re-indexed by state label, so nothing relies on the two tools listing states alike.
    """
    table = _cpd_array(cpd)
    for axis, var in enumerate(cpd.variables):
        labels = list(potential.variable(potential.names.index(var)).labels())
        order = [cpd.state_names[var].index(label) for label in labels]
        table = np.take(table, order, axis=axis)
    target_axes = list(reversed(potential.names))
    table = np.transpose(table, [cpd.variables.index(v) for v in target_axes])
    potential.fillWith(table.ravel().tolist())


def to_pyagrum(network):
    """A pyAgrum ``BayesNet`` with the same variables, states, arcs and tables as ``network``.

    pyAgrum (a dev dependency) is the independent oracle of the tests and the benchmark; it is
    imported here, on use, so the package itself never needs it.
    """
    import pyagrum as gum

    bn = gum.BayesNet("crampnet")
    cpds = {cpd.variable: cpd for cpd in network.get_cpds()}
    for name, cpd in cpds.items():
        bn.add(gum.LabelizedVariable(name, name, list(cpd.state_names[name])))
    for name, cpd in cpds.items():
        for parent in cpd.variables[1:]:
            bn.addArc(parent, name)
    for name, cpd in cpds.items():
        fill_pyagrum_cpt(bn.cpt(name), cpd)
    bn.check()
    return bn


def mutilated(bn, do: dict[str, str]):
    """A pyAgrum copy of ``bn`` with the incoming links of each intervened variable cut and
    its state fixed: the textbook meaning of ``do(X=x)``, the oracle of interventions."""
    import pyagrum as gum

    out = gum.BayesNet(bn)
    for var, state in do.items():
        for parent in list(out.parents(var)):
            out.eraseArc(out.variable(parent).name(), var)
        labels = list(out.variable(var).labels())
        out.cpt(var).fillWith([float(label == state) for label in labels])
    return out


def load_network(name: str) -> DiscreteBayesianNetwork:
    """One of pgmpy's bundled bnlearn networks (offline), every CPD column renormalised to
    sum to 1 (alarm's and hepar2's are off by up to 1e-7 as stored)."""
    from pgmpy.utils import get_example_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = get_example_model(name)
    for cpd in network.get_cpds():
        cpd.values = cpd.values / cpd.values.sum(axis=0, keepdims=True)
    return network


def min_fill_cliques(card: dict[str, int], scopes: list[tuple[str, ...]]) -> list[frozenset]:
    """Greedy min-fill elimination in plain Python sets, the engine's rule (fewest fill-in
    edges, then the smallest clique table counted up to 2^53, then the first name): the
    clique each elimination forms, in order. The oracle of the compiled
    :mod:`model.inference.triangulation`; it was the engine's own until that replaced it."""
    adjacency: dict[str, set[str]] = {v: set() for v in card}
    for scope in scopes:
        for a, b in itertools.combinations(scope, 2):
            adjacency[a].add(b)
            adjacency[b].add(a)
    remaining = set(card)
    cliques: list[frozenset] = []

    def cost(v: str) -> tuple[int, float, str]:
        near = adjacency[v] & remaining
        k = len(near)
        linked = sum(len(adjacency[a] & near) for a in near) // 2
        size = min(math.prod([card[u] for u in near | {v}]), 2**53)  # as triangulation.SIZE_CAP
        return k * (k - 1) // 2 - linked, float(size), v

    while remaining:
        v = min(cost(u) for u in remaining)[2]
        near = adjacency[v] & remaining
        for a, b in itertools.combinations(near, 2):
            adjacency[a].add(b)
            adjacency[b].add(a)
        cliques.append(frozenset(near | {v}))
        remaining.remove(v)
    return cliques
