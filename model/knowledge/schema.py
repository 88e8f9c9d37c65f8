"""The shape of the priors files, declared once with pydantic.

This module checks each file on its own (types, ranges, provenance, rows summing to one);
``model.knowledge.priors`` checks what spans files (parents exist, states match, no cycles, claim
ids). Every probability in the priors is a :class:`Param` or a table row: both carry provenance
(``claims`` and/or ``elicited``) and a ``confidence``, an equivalent sample size that later
turns into Beta / Dirichlet uncertainty.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

CLAIM_ID = re.compile(r"^C\d{2}$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SUM_TOLERANCE = 1e-6


def _check_name(value: object, what: str) -> str:
    if isinstance(value, bool):
        raise ValueError(
            f'{what} {value!r} is a YAML boolean; quote it (write "yes"/"no" in quotes)'
        )
    if not isinstance(value, str) or not NAME.match(value):
        raise ValueError(f"{what} {value!r} must be lower_snake_case text")
    return value


def _check_probability(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value} is not a probability")
    return value


def _check_claim_ids(claims: list[str]) -> list[str]:
    for claim in claims:
        if not CLAIM_ID.match(claim):
            raise ValueError(f"{claim!r} is not a claim id like C07")
    return claims


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Strict):
    """Where a number comes from: source claims, an elicitation note, a learning run, or some
    of these. ``learned: "<file> (<N> cases)"`` is written by :mod:`model.knowledge.writer` beside
    each number that expectation-maximisation updated from case data."""

    claims: list[str] = Field(default_factory=list)
    elicited: str | None = None
    learned: str | None = None
    confidence: float = Field(gt=0, description="equivalent sample size of this number")

    _claim_ids = field_validator("claims")(classmethod(lambda cls, v: _check_claim_ids(v)))

    @model_validator(mode="after")
    def _has_provenance(self) -> Provenance:
        if not self.claims and not any(
            text and text.strip() for text in (self.elicited, self.learned)
        ):
            raise ValueError(
                "a number without provenance: give claims: [Cxx], elicited: <why> "
                "or learned: <file> (<N> cases)"
            )
        return self


class Param(Provenance):
    """One probability (a link strength, a leak) with its provenance."""

    p: float

    @field_validator("p")
    @classmethod
    def _p(cls, value: float) -> float:
        return _check_probability(value)


class Row(Provenance):
    """One row of a full table: the child's distribution under one parent configuration."""

    when: dict[str, str] = Field(default_factory=dict)
    probs: dict[str, float]

    @field_validator("probs")
    @classmethod
    def _distribution(cls, probs: dict[str, float]) -> dict[str, float]:
        for state, value in probs.items():
            _check_name(state, "state")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{state}: {value} is not a probability")
        total = sum(probs.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"probabilities sum to {total:.6g}, not 1")
        return probs


class TableCPD(_Strict):
    """A full conditional table, one row per parent configuration (or one row for a root)."""

    type: Literal["table"]
    rows: list[Row] = Field(min_length=1)


class Interaction(_Strict):
    """An extra cause that acts only when all parents in ``when`` hold together."""

    when: dict[str, str] = Field(min_length=2)
    towards: dict[str, Param] = Field(min_length=1)


class Uninformative(Param):
    """A child state with the same probability under every parent configuration."""

    state: str


class NoisyOrCPD(_Strict):
    """Leaky noisy-OR (one active state) or noisy-MAX-like (several active states).

    Each parent state in ``links`` independently pushes the child towards an active state with
    its strength; the leak stands for causes outside the model; ``off_state`` is the state
    taken when nothing fires. ``links: {parent: {parent_state: {child_state: Param}}}``.
    """

    type: Literal["noisy_or"]
    off_state: str
    leak: dict[str, Param] = Field(min_length=1)
    links: dict[str, dict[str, dict[str, Param]]] = Field(default_factory=dict)
    interactions: list[Interaction] = Field(default_factory=list)
    uninformative: Uninformative | None = None


class Case(_Strict):
    """One parent configuration of a deterministic node and the state it implies."""

    when: dict[str, str]
    state: str


class DeterministicCPD(Provenance):
    """A child that is a fixed function of its parents (a definition, not a number)."""

    type: Literal["deterministic"]
    cases: list[Case] = Field(min_length=1)
    confidence: float = Field(default=float("inf"), gt=0)


CPD = Annotated[TableCPD | NoisyOrCPD | DeterministicCPD, Field(discriminator="type")]

Kind = Literal["context", "cause", "intermediate", "finding"]


class Node(_Strict):
    """A variable: what it means, how it is asked, its states and its distribution."""

    kind: Kind
    label: str
    question: str
    help: str | None = None
    group: str | None = None
    states: list[str] = Field(min_length=2)
    normal_state: str | None = None
    parents: list[str] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list)
    cost: float = Field(default=0.0, ge=0, description="effort of answering, in days")
    cpd: CPD

    _claim_ids = field_validator("claims")(classmethod(lambda cls, v: _check_claim_ids(v)))

    @field_validator("states", "parents", mode="before")
    @classmethod
    def _names(cls, names: object, info: ValidationInfo) -> object:
        """Each state or parent a valid name, none repeated."""
        if not isinstance(names, list):
            return names
        for name in names:
            _check_name(name, info.field_name.removesuffix("s"))
        if len(set(names)) != len(names):
            raise ValueError(f"{info.field_name} repeat: {names}")
        return names

    @model_validator(mode="after")
    def _normal_state(self) -> Node:
        if self.kind == "cause" and self.normal_state is None:
            raise ValueError("a cause needs normal_state (its healthy state)")
        if self.normal_state is not None and self.normal_state not in self.states:
            raise ValueError(
                f"normal_state {self.normal_state!r} is not one of the states {self.states}"
            )
        return self


class NodesFile(_Strict):
    """A priors file of nodes: ``nodes: {id: Node}``."""

    nodes: dict[str, Node]

    @field_validator("nodes", mode="before")
    @classmethod
    def _ids(cls, nodes: object) -> object:
        if isinstance(nodes, dict):
            for key in nodes:
                _check_name(key, "node id")
        return nodes


class Claim(_Strict):
    """A claim of the source, in our own words, and where it stands in the model."""

    section: str
    text: str
    out_of_scope: str | None = None  # why the model leaves the whole claim out
    reading: str | None = None  # how the model follows the claim, and which vignettes check it
    not_modelled: str | None = None  # the part of a followed claim the model leaves out
    remedy_for: list[str] = Field(default_factory=list)


class ClaimsFile(_Strict):
    """``claims: {Cxx: Claim}``: the source's claims, paraphrased."""

    source: str
    claims: dict[str, Claim]

    @field_validator("claims", mode="before")
    @classmethod
    def _ids(cls, claims: object) -> object:
        if isinstance(claims, dict):
            for key in claims:
                if not isinstance(key, str) or not CLAIM_ID.match(key):
                    raise ValueError(f"{key!r} is not a claim id like C07")
        return claims


class Condition(_Strict):
    """One way a red flag fires: every part given must hold."""

    evidence: dict[str, list[str]] = Field(default_factory=dict)
    evidence_any: dict[str, list[str]] = Field(default_factory=dict)
    posterior: dict[str, str] = Field(default_factory=dict, max_length=1)
    above: float | None = None

    @model_validator(mode="after")
    def _complete(self) -> Condition:
        if not (self.evidence or self.evidence_any or self.posterior):
            raise ValueError("a condition needs evidence, evidence_any or posterior")
        if bool(self.posterior) != (self.above is not None):
            raise ValueError("posterior and above go together")
        if self.above is not None:
            _check_probability(self.above)
        return self


class RedFlag(_Strict):
    """A rule over the answers (and posteriors) that a person must see before any number."""

    title: str = Field(min_length=1, description="a few plain words a person reads first")
    message: str
    claims: list[str] = Field(min_length=1)
    when_any: list[Condition] = Field(min_length=1)

    _claim_ids = field_validator("claims")(classmethod(lambda cls, v: _check_claim_ids(v)))


class Caution(RedFlag):
    """A rule under which a trial may harm: it is never suggested without this plain caveat."""

    trial: str = Field(description="the trial node this caution is about")


class RedFlagsFile(_Strict):
    """``red_flags: {id: RedFlag}`` and ``cautions: {id: Caution}``, thresholds documented."""

    red_flags: dict[str, RedFlag]
    cautions: dict[str, Caution] = Field(default_factory=dict)


class ModelFile(_Strict):
    """The manifest: the model's name, version and which files hold its nodes."""

    name: str
    version: str
    description: str
    notice: str
    node_files: list[str] = Field(min_length=1)
    claims_file: str
    red_flags_file: str
