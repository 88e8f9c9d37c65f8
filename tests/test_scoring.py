"""Batch scoring: chunked array scoring and case scoring against one-case-at-a-time posteriors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import LEG_CLUSTER, Hard, Soft, examples, model_evidence

from model import CrampModel, ImpossibleEvidenceError
from model.inference.engine import encode
from model.inference.scoring import ScoredChunk, score_array, score_cases

IMPOSSIBLE: Hard = {"left_leg_cramps": "yes", "right_leg_cramps": "no", "leg_cramp_side": "both"}


def columns_of(model: CrampModel) -> list[str]:
    """Every answerable node plus the hidden leg nodes (where impossible rows come from)."""
    return [
        n
        for n, s in model.priors.nodes.items()
        if s.kind in ("context", "finding") or n in LEG_CLUSTER
    ]


def random_codes(model: CrampModel, columns: list[str], rows: int, seed: int) -> np.ndarray:
    """Sparse random answers (-1 unanswered), with the leg cluster answered often."""
    rng = np.random.default_rng(seed)
    codes = np.full((rows, len(columns)), -1, dtype=np.int16)
    for j, c in enumerate(columns):
        rate = 0.5 if c in LEG_CLUSTER else 0.08
        answered = rng.random(rows) < rate
        codes[answered, j] = rng.integers(0, model.engine.card[c], answered.sum())
    codes[rows // 2] = -1  # one row with no answers at all
    return codes


def decode(model: CrampModel, columns: list[str], codes: np.ndarray) -> Hard:
    return {c: model.engine.states[c][k] for c, k in zip(columns, codes, strict=True) if k >= 0}


def collect(chunks: list[ScoredChunk], targets: list[str]) -> tuple[dict, np.ndarray]:
    """Chunks stitched back into whole arrays, checking they arrive in order."""
    start = 0
    for chunk in chunks:
        assert chunk.start == start
        start += len(chunk.possible)
    marginals = {t: np.concatenate([c.marginals[t] for c in chunks]) for t in targets}
    return marginals, np.concatenate([c.possible for c in chunks])


def close(a: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> bool:
    return bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.nanmax(np.abs(a - b)) <= tol)


@pytest.fixture(scope="module")
def codes(model: CrampModel) -> tuple[list[str], np.ndarray]:
    columns = columns_of(model)
    return columns, random_codes(model, columns, 50, seed=2024)


def test_score_array_in_chunks_equals_per_row_posteriors(
    model: CrampModel, codes: tuple[list[str], np.ndarray]
) -> None:
    columns, array = codes
    targets = model.causes
    chunks = list(score_array(model.engine, columns, array, model.causes, chunk_size=7))
    assert [c.start for c in chunks] == list(range(0, 50, 7))
    marginals, possible = collect(chunks, targets)
    assert possible.shape == (50,)
    impossible = 0
    for r in range(len(array)):
        evidence = decode(model, columns, array[r])
        try:
            single = model.engine.posteriors(targets, evidence)
        except ImpossibleEvidenceError:
            impossible += 1
            assert not possible[r]
            assert all(np.isnan(marginals[t][r]).all() for t in targets)
            continue
        assert possible[r]
        for t in targets:
            assert np.abs(marginals[t][r] - list(single[t].values())).max() <= 1e-12, (r, t)
    assert 0 < impossible < len(array)  # the sample exercises both kinds of row


@pytest.mark.parametrize("chunk_size", [1, 3, 13, 49, 50, 4096])
def test_chunk_boundaries_do_not_change_results(
    model: CrampModel, codes: tuple[list[str], np.ndarray], chunk_size: int
) -> None:
    columns, array = codes
    targets = [*model.causes, "leg_cramp_side"]
    reference, possible = collect(list(score_array(model.engine, columns, array, targets)), targets)
    chunks = list(score_array(model.engine, columns, array, targets, chunk_size=chunk_size))
    assert len(chunks) == -(-len(array) // chunk_size)
    marginals, chunked_possible = collect(chunks, targets)
    assert np.array_equal(possible, chunked_possible)
    for t in targets:
        assert close(marginals[t], reference[t]), t


def test_encode_round_trips(model: CrampModel) -> None:
    columns = ["leg_cramp_side", "female", "calcium_trial"]
    rows = [{"leg_cramp_side": "both"}, {}, {"female": "no", "calcium_trial": "worsened"}]
    array = encode(model.engine, columns, rows)
    assert array.tolist() == [[3, -1, -1], [-1, -1, -1], [-1, 1, 3]]
    assert [decode(model, columns, row) for row in array] == rows
    assert encode(model.engine, columns, []).shape == (0, 3)


# --- score_cases -------------------------------------------------------------------------------


def test_score_cases_reports_bad_cases_in_place(model: CrampModel) -> None:
    cases: list[tuple[dict, dict | None]] = [
        ({"leg_cramp_side": "left"}, None),
        ({"leg_cramp_sid": "left"}, None),
        ({"leg_cramp_side": "sideways"}, None),
        (IMPOSSIBLE, None),
        ({}, {"nocturnal_cramps": {"yes": 2.0}}),
        ({"female": "yes"}, {"nocturnal_cramps": {"yes": 2.0, "no": 1.0}}),
    ]
    results = list(score_cases(model.engine, cases, model.causes, chunk_size=4))
    assert len(results) == len(cases)
    assert results[0].error is None and results[0].posterior is not None
    assert "unknown variable 'leg_cramp_sid'" in results[1].error
    assert "did you mean leg_cramp_side" in results[1].error
    assert "unknown state 'sideways'" in results[2].error
    assert "left, right" in results[2].error or "none, left" in results[2].error
    assert "cannot all be true" in results[3].error
    # the smallest conflict: "both" sides needs the right leg to cramp, whatever the left does
    assert "right_leg_cramps=no, leg_cramp_side=both;" in results[3].error
    assert "left_leg_cramps" not in results[3].error
    assert "needs a likelihood for every state" in results[4].error
    expected = model.engine.posteriors(
        model.causes, {"female": "yes"}, {"nocturnal_cramps": {"yes": 2.0, "no": 1.0}}
    )
    got = results[5].posterior
    assert got.keys() == expected.keys()
    assert max(abs(got[c][s] - p) for c in expected for s, p in expected[c].items()) <= 1e-12


@st.composite
def case_mixes(draw: st.DrawFn, model: CrampModel) -> list[tuple[str, Hard, Soft | None]]:
    """1-25 cases, each tagged with what it should produce."""
    cases: list[tuple[str, Hard, Soft | None]] = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["good", "good", "good", "variable", "state", "impossible"]))
        hard, soft = draw(model_evidence(model, max_hard=4, max_soft=1))
        if kind == "variable":
            hard = {**hard, "no_such_question": "yes"}
        elif kind == "state":
            var = draw(st.sampled_from(sorted(model.priors.nodes)))
            soft.pop(var, None)
            hard = {**hard, var: "maybe"}
        elif kind == "impossible":
            hard = {**{k: a for k, a in hard.items() if k not in IMPOSSIBLE}, **IMPOSSIBLE}
            soft = {k: a for k, a in soft.items() if k not in IMPOSSIBLE}
        cases.append((kind, hard, soft or None))
    return cases


@settings(max_examples=examples(25))
@given(data=st.data())
def test_score_cases_accounts_for_every_case_in_order(
    model: CrampModel, data: st.DataObject
) -> None:
    mix = data.draw(case_mixes(model))
    chunk_size = data.draw(st.integers(1, 8))
    targets = ["calcium", "magnesium", "dehydration"]
    results = list(
        score_cases(model.engine, [(h, s) for _, h, s in mix], targets, chunk_size=chunk_size)
    )
    assert len(results) == len(mix)
    for (kind, hard, soft), result in zip(mix, results, strict=True):
        assert (result.posterior is None) != (result.error is None)
        if kind == "variable":
            assert "unknown variable 'no_such_question'" in result.error
        elif kind == "state":
            assert "unknown state 'maybe'" in result.error
        elif kind == "impossible":
            assert "cannot all be true" in result.error
        else:  # a drawn case may still be impossible by chance: it must say so, not NaN
            try:
                expected = model.engine.posteriors(targets, hard, soft)
            except ImpossibleEvidenceError as exc:
                assert result.to_dict() == {"error": str(exc)}
                continue
            assert result.error is None
            got = result.posterior
            assert got.keys() == expected.keys()
            for t in targets:
                assert got[t].keys() == expected[t].keys()
                assert max(abs(got[t][s] - expected[t][s]) for s in got[t]) <= 1e-12


def test_score_cases_with_no_cases(model: CrampModel) -> None:
    assert list(score_cases(model.engine, [], model.causes)) == []


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_threads_give_the_same_answers_as_one(model: CrampModel, jobs: int) -> None:
    """Groups of one chunk run on several threads, each writing its own rows: the result is
    the single-threaded one, bit for bit, in the same order (many groups, so threads overlap)."""
    columns = columns_of(model)
    array = random_codes(model, columns, 3000, seed=7)
    targets = model.causes
    runs = [
        collect(
            list(score_array(model.engine, columns, array, targets, chunk_size=1000, jobs=n)),
            targets,
        )
        for n in (1, jobs)
    ]
    (one, possible_one), (many, possible) = runs
    assert np.array_equal(possible, possible_one)
    for t in targets:
        assert np.array_equal(np.isnan(many[t]), np.isnan(one[t])), t
        assert close(many[t], one[t], 0.0), t
