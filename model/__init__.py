"""crampnet: a Bayesian network of the causes of muscle cramps named by one practitioner's page.

Not medical advice and not a diagnosis. Typical use::

    from model import diagnose
    d = diagnose({"leg_cramp_side": "left", "nocturnal_cramps": "yes"})
    d.ranked()[0]   # the most probable abnormal cause state, with its prior

Layers, in the one direction they depend on each other: ``priors`` (load and validate the
knowledge) -> ``cpt`` / ``network`` (build the pgmpy network) -> ``inference`` (exact
posteriors) -> ``diagnosis`` (what a person sees) -> ``cli`` and the app.
"""

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

__version__ = "0.1.0"

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
