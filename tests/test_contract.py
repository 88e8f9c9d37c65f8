"""The model honours the vocabulary contract, covers every claim, and keeps priors plausible."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model import load_priors
from model.knowledge.coverage import claim_coverage, coverage_problems

DATA = Path(__file__).parent / "data"
KINDS = {"Causes": "cause", "Findings": "finding", "Context": "context"}


def vocabulary() -> list[tuple[str, str, list[str]]]:
    """(kind, id, states) for every row of the vocabulary tables."""
    rows, kind = [], None
    for line in (DATA / "vocabulary.md").read_text().splitlines():
        heading = re.match(r"^## (\w+)", line)
        if heading:
            kind = KINDS.get(heading.group(1))
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if kind and line.startswith("|") and len(cells) >= 2 and cells[0] not in ("id", "---"):
            raw = re.sub(r"\(.*?\)", "", cells[1]).strip()
            states = ["yes", "no"] if raw == "yes/no" else [s.strip() for s in raw.split(",")]
            rows.append((kind, cells[0], states))
    return rows


@pytest.fixture(scope="module")
def priors():
    return load_priors()


def test_vocabulary_parses():
    rows = vocabulary()
    assert len([r for r in rows if r[0] == "cause"]) == 12
    assert len([r for r in rows if r[0] == "finding"]) == 21
    assert len([r for r in rows if r[0] == "context"]) == 28


@pytest.mark.parametrize(("kind", "node_id", "states"), vocabulary())
def test_every_vocabulary_node_is_present_with_its_states_in_order(priors, kind, node_id, states):
    assert node_id in priors.nodes, f"{node_id} is missing from priors/"
    node = priors.nodes[node_id]
    assert node.kind == kind
    assert node.states[: len(states)] == states
    assert node.label.strip() and node.question.strip()


def test_every_claim_is_encoded_or_out_of_scope(priors):
    assert coverage_problems(priors) == []
    statuses = {row["id"]: row["status"] for row in claim_coverage(priors)}
    assert statuses["C02"] == "scoped out"
    assert statuses["C30"] == "faithful"
    assert statuses["C11"] == "faithful in part"
    assert set(statuses.values()) <= {"faithful", "faithful in part", "scoped out"}


def test_a_cited_claim_needs_a_reading(priors):
    from dataclasses import replace

    claims = dict(priors.claims)
    claims["C30"] = claims["C30"].model_copy(update={"reading": None})
    assert coverage_problems(replace(priors, claims=claims)) == [
        "C30 is cited by the priors but claims.yaml does not say how the model follows it (reading)"
    ]


def test_coverage_catches_an_uncovered_claim(priors):
    from dataclasses import replace

    claims = dict(priors.claims)
    claims["C02"] = claims["C02"].model_copy(update={"out_of_scope": None})
    assert coverage_problems(replace(priors, claims=claims)) == [
        "C02 is neither encoded in the priors nor marked out_of_scope in claims.yaml"
    ]


def test_no_cause_starts_above_one_half():
    from model import default_model

    model = default_model()
    for cause, state in model.abnormal_states():
        assert model.prior[cause][state] < 0.5, f"{cause}={state} starts too high"


def test_red_flags_have_the_documented_ids(priors):
    assert list(priors.red_flags) == ["neurological", "cardiovascular", "bone_density", "trauma"]
