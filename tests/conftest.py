"""Shared fixtures: hypothesis profiles, the built-in model, and an independent pyAgrum copy.

``to_pyagrum`` rebuilds the network in pyAgrum straight from pgmpy's ``TabularCPD`` objects,
so pyAgrum's ``LazyPropagation`` can serve as an oracle that shares no inference code with
crampnet (only the tables themselves).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pyagrum as gum
import pytest
from hypothesis import settings

from model import CrampModel, load_model

settings.register_profile("default", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _cpd_array(cpd) -> np.ndarray:
    """A pgmpy CPD's table with one axis per variable, in ``cpd.variables`` order."""
    return np.asarray(cpd.values, dtype=float).reshape(cpd.cardinality)


def fill_pyagrum_cpt(potential: gum.Tensor, cpd) -> None:
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


def to_pyagrum(network) -> gum.BayesNet:
    """A pyAgrum ``BayesNet`` with the same variables, states, arcs and tables as ``network``."""
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


@pytest.fixture(scope="session")
def model() -> CrampModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model()


@pytest.fixture(scope="session")
def pyagrum_net(model: CrampModel) -> gum.BayesNet:
    return to_pyagrum(model.network)
