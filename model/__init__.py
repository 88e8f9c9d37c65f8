"""crampnet: a Bayesian network of the causes of muscle cramps named by one practitioner's page.

Not medical advice and not a diagnosis. Typical use::

    from model import diagnose
    d = diagnose({"leg_cramp_side": "left", "nocturnal_cramps": "yes"})
    d.ranked()[0]   # the most probable abnormal cause state, with its prior

The subpackages are layers; each imports only from those below it (``lint-imports`` checks):

- ``knowledge``: the priors files read, validated and expanded to tables (what the source
  says, as numbers with provenance);
- ``inference``: exact posteriors over any discrete network (knows nothing of cramps);
- ``readwrite``: case files and tables in, outputs written whole;
- ``diagnosis``: the cramp model, a person's answers and what they mean (ranked causes,
  intervals, red flags, why, the next question);
- ``reports``: words, tables, charts and reports for people;
- ``analysis``: calibration, sensitivity and learning, for the notebooks and the CLI;
- ``cli``: the ``crampnet`` command. The app (``app.py``) sits beside it, on top.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from model.diagnosis.crampmodel import CrampModel, Diagnosis, default_model, diagnose, load_model
from model.errors import (
    CrampnetError,
    EvidenceError,
    ImpossibleEvidenceError,
    PriorsError,
    UnknownStateError,
    UnknownVariableError,
)
from model.knowledge.priors import Priors, load_priors

try:  # the one version string: pyproject.toml's, as installed
    __version__ = _version("crampnet")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "CrampModel",
    "CrampnetError",
    "Diagnosis",
    "EvidenceError",
    "ImpossibleEvidenceError",
    "Priors",
    "PriorsError",
    "UnknownStateError",
    "UnknownVariableError",
    "__version__",
    "default_model",
    "diagnose",
    "load_model",
    "load_priors",
]
