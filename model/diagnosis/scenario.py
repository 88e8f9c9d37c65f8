"""A scenario: one person's answers (sure, "probably", and interventions), and its URL form.

The explorer keeps every answer in the page's query string so a scenario can be bookmarked
and shared: ``leg_cramp_side=left`` (a sure answer), ``nocturnal_cramps=~yes`` ("probably
yes": soft evidence), ``do.calcium_supplements=yes`` (an intervention: "if you started
taking calcium"). A second scenario for side-by-side comparison uses the prefix ``b.``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from model.errors import EvidenceError
from model.inference.evidence import check_evidence
from model.knowledge.priors import Priors

PROBABLY_MARK = "~"  # a soft answer in a link: ?nocturnal_cramps=~yes
PROBABLY_RATIO = 4.0  # "probably X": X four times as likely as each other answer, given the cause
DO_PREFIX = "do."
B_PREFIX = "b."


@dataclass(frozen=True)
class Scenario:
    """Answers of one scenario: sure ones, "probably" ones and interventions."""

    evidence: dict[str, str] = field(default_factory=dict)
    probably: dict[str, str] = field(default_factory=dict)
    do: dict[str, str] = field(default_factory=dict)

    def soft_evidence(self, priors: Priors) -> dict[str, dict[str, float]]:
        """The "probably" answers as likelihoods over each variable's states."""
        return {
            v: {s: PROBABLY_RATIO if s == state else 1.0 for s in priors.nodes[v].states}
            for v, state in self.probably.items()
        }

    def answered(self) -> set[str]:
        return set(self.evidence) | set(self.probably) | set(self.do)

    def with_answer(self, variable: str, state: str | None, *, how: str = "sure") -> Scenario:
        """A copy with ``variable`` answered (``how``: sure, probably or do), or cleared."""
        evidence = {k: v for k, v in self.evidence.items() if k != variable}
        probably = {k: v for k, v in self.probably.items() if k != variable}
        do = {k: v for k, v in self.do.items() if k != variable}
        if state is not None:
            {"sure": evidence, "probably": probably, "do": do}[how][variable] = state
        return Scenario(evidence, probably, do)

    def to_case(self, priors: Priors) -> dict:
        """The case-file form (``crampnet diagnose CASE.json``), interventions included."""
        case: dict = {"evidence": dict(self.evidence)}
        if self.probably:
            case["soft_evidence"] = self.soft_evidence(priors)
        if self.do:
            case["do"] = dict(self.do)
        return case


def to_query(scenario: Scenario, prefix: str = "") -> dict[str, str]:
    """Query-string parameters for a scenario (``prefix`` ``b.`` for the second one)."""
    params = {f"{prefix}{k}": v for k, v in scenario.evidence.items()}
    params |= {f"{prefix}{k}": PROBABLY_MARK + v for k, v in scenario.probably.items()}
    params |= {f"{prefix}{DO_PREFIX}{k}": v for k, v in scenario.do.items()}
    return params


def from_query(
    priors: Priors, params: Mapping[str, str], prefix: str = ""
) -> tuple[Scenario, list[str]]:
    """The scenario in ``params`` and a message for each parameter that was dropped.

    Unknown ids or states in a shared link are reported and skipped, never fatal: the rest of
    the scenario still loads.
    """
    scenario, problems = Scenario(), []
    for key, value in params.items():
        if not key.startswith(prefix) or (not prefix and key.startswith(B_PREFIX)):
            continue
        name = key[len(prefix) :]
        how = "sure"
        if name.startswith(DO_PREFIX):
            name, how = name[len(DO_PREFIX) :], "do"
        elif value.startswith(PROBABLY_MARK):
            value, how = value[len(PROBABLY_MARK) :], "probably"
        try:
            check_evidence(priors.states, {name: value})
        except EvidenceError as exc:
            problems.append(f"ignored {key}={value}: {exc}")
            continue
        if name in scenario.answered():  # e.g. female=yes and do.female=no: the first one holds
            problems.append(f"ignored {key}={value}: {name!r} is already set earlier in the link")
            continue
        scenario = scenario.with_answer(name, value, how=how)
    return scenario, problems
