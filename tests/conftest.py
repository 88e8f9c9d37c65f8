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
from pathlib import Path

# hypothesis keeps its example database and constants under this folder (default: .hypothesis
# in the working directory): the tests write only to temporary folders
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="crampnet-hypothesis-")
)

import pyagrum as gum  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench`, `tests.oracles`

from model import CrampModel, load_model  # noqa: E402
from tests.oracles.reference import fill_pyagrum_cpt, to_pyagrum  # noqa: E402

__all__ = ["DIAGNOSIS_KEYS", "fill_pyagrum_cpt", "to_pyagrum"]  # shared with the tests

# the keys of a diagnosis as JSON (``diagnose(...).to_dict()``, ``crampnet diagnose --json``),
# in the order they are written
DIAGNOSIS_KEYS = [
    "notice",
    "evidence",
    "posterior",
    "prior",
    "rank_first",
    "red_flags",
    "cautions",
    "explanation",
    "model",
]

settings.register_profile("default", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def model() -> CrampModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model()


@pytest.fixture(scope="session")
def pyagrum_net(model: CrampModel) -> gum.BayesNet:
    return to_pyagrum(model.network)
