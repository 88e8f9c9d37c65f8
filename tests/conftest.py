"""Shared fixtures: hypothesis profiles, the built-in model, and an independent pyAgrum copy.

``to_pyagrum`` (from ``tests.oracles.reference``) rebuilds the network in pyAgrum straight from
pgmpy's ``TabularCPD`` objects, so pyAgrum's ``LazyPropagation`` can serve as an oracle that
shares no inference code with crampnet (only the tables themselves).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

# hypothesis keeps its example database and constants under this folder (default: .hypothesis
# in the working directory): the tests write only to temporary folders
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="crampnet-hypothesis-")
)

import pyagrum as gum  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench`, `tests.oracles`

from model import CrampModel, load_model  # noqa: E402
from model.inference.engine import Engine  # noqa: E402
from model.knowledge.cpt import expand  # noqa: E402
from model.knowledge.schema import Node  # noqa: E402
from tests.oracles.reference import fill_pyagrum_cpt, to_pyagrum  # noqa: E402

# shared with the tests that import them from here
__all__ = ["DIAGNOSIS_KEYS", "engine_of", "examples", "fill_pyagrum_cpt", "subsets", "to_pyagrum"]

# the keys of a diagnosis as JSON (``diagnose(...).to_dict()``, ``crampnet diagnose --json``),
# in the order they are written
DIAGNOSIS_KEYS = [
    "notice",
    "evidence",
    "posterior",
    "prior",
    "rank_first",
    "if_fixed",
    "red_flags",
    "cautions",
    "conflict",
    "explanation",
    "model",
]

settings.register_profile("default", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def examples(n: int) -> int:
    """``n`` examples under the default profile (40 examples), scaled with the loaded profile
    (so the "ci" profile's 200 runs five times as many)."""
    return max(1, n * settings().max_examples // 40)


def engine_of(nodes: Mapping[str, Node]) -> Engine:
    """The exact engine over the tables ``cpt.expand`` makes of priors ``nodes``."""
    states = {n: spec.states for n, spec in nodes.items()}
    return Engine(
        states,
        {n: tuple(spec.parents) for n, spec in nodes.items()},
        {n: expand(spec, states) for n, spec in nodes.items()},
    )


@st.composite
def subsets(draw: st.DrawFn, items: list, size: int) -> list:
    """``size`` distinct items by a partial Fisher-Yates shuffle: no filtering, no retries."""
    left = list(items)
    return [left.pop(draw(st.integers(0, len(left) - 1))) for _ in range(size)]


@pytest.fixture(scope="session")
def model() -> CrampModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model()


@pytest.fixture(scope="session")
def pyagrum_net(model: CrampModel) -> gum.BayesNet:
    return to_pyagrum(model.network)
