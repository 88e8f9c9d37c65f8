"""Calibration metrics on inputs with known answers, their properties, the model's
self-consistency on simulated cohorts, misspecified truths, and ``crampnet evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.analysis.calibration import (
    ALL,
    EPS,
    brier_score,
    evaluate,
    evaluate_cohort,
    evaluate_posteriors,
    expected_calibration_error,
    log_loss,
    misspecification,
    reliability_table,
    scale_confidence,
    simulate_cohort,
    table_distance,
    top_k_accuracy,
)
from model.analysis.sampling import sample_cases
from model.cli.crampnet import main
from model.diagnosis.crampmodel import CrampModel
from model.knowledge.draws import draw_tables
from model.knowledge.network import node_tables

# --- known answers -----------------------------------------------------------------------------


def test_brier_of_constant_half_on_a_balanced_set_is_a_quarter():
    y = np.array([0, 1] * 50)
    assert brier_score(y, np.full(100, 0.5)) == pytest.approx(0.25)


def test_brier_by_hand():
    # (0.8 - 1)^2 = 0.04, (0.4 - 0)^2 = 0.16, (0 - 0)^2 = 0: mean 0.2 / 3
    assert brier_score([1, 0, 0], [0.8, 0.4, 0.0]) == pytest.approx(0.2 / 3)


def test_log_loss_of_perfect_predictions_is_about_zero_and_of_half_is_log_two():
    y = np.array([0, 1, 1, 0])
    assert log_loss(y, y.astype(float)) < 1e-9
    assert log_loss(y, np.full(4, 0.5)) == pytest.approx(math.log(2))


def test_log_loss_clips_a_certain_miss_to_a_finite_cost():
    assert log_loss([1], [0.0]) == pytest.approx(-math.log(EPS))


def test_ece_of_a_calibrated_predictor_is_near_zero():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = rng.random(200_000) < p  # P(y = 1 | p) = p
    assert expected_calibration_error(y, p) < 0.01


def test_ece_of_a_predictor_always_saying_ninety_percent_on_a_balanced_set_is_point_four():
    y = np.array([0, 1] * 500)
    assert expected_calibration_error(y, np.full(1000, 0.9)) == pytest.approx(0.4)


def test_reliability_table_by_hand():
    p = [0.05, 0.1, 0.15, 1.0]  # 0.1 opens the second bin; 1.0 falls in the last
    y = [0, 1, 0, 1]
    table = reliability_table(y, p, n_bins=10)
    assert table["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert table.loc[1, "mean_predicted"] == pytest.approx(0.125)
    assert table.loc[1, "observed"] == pytest.approx(0.5)
    assert np.isnan(table.loc[2, "observed"])
    # ECE = (1 * |0.05 - 0| + 2 * |0.125 - 0.5| + 1 * |1 - 1|) / 4
    assert expected_calibration_error(y, p) == pytest.approx((0.05 + 0.75) / 4)


def test_top_k_by_hand():
    prob = np.array(
        [
            [0.9, 0.5, 0.1],  # ranking 0, 1, 2; truth 1: top-2, not top-1
            [0.2, 0.3, 0.4],  # ranking 2, 1, 0; truth 2: top-1
            [0.5, 0.5, 0.1],  # a tie is broken by column order: 0 before 1; truth 1: top-2
            [0.3, 0.2, 0.1],  # no true column: not counted
            [0.1, 0.2, 0.7],  # truth 0: top-3 only
        ]
    )
    truth = np.zeros_like(prob, dtype=bool)
    truth[0, 1] = truth[1, 2] = truth[2, 1] = truth[4, 0] = True
    assert top_k_accuracy(prob, truth, 1) == (0.25, 4)
    assert top_k_accuracy(prob, truth, 2) == (0.75, 4)
    assert top_k_accuracy(prob, truth, 3) == (1.0, 4)
    assert math.isnan(top_k_accuracy(prob[3:4], truth[3:4], 1)[0])


def test_unknown_truth_is_left_out_of_its_cause_only(model):
    posterior = {"iron": np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])}
    truth = {"iron": np.array([0, -1, 1])}  # iron states: low, normal; the middle one unknown
    prior = {"iron": np.array([0.1, 0.9])}
    evaluation = evaluate_posteriors(model.priors, posterior, truth, prior)
    row = evaluation.metrics.set_index("label").loc["iron=low"]
    assert row["n"] == 2
    assert row["brier"] == pytest.approx(((0.9 - 1) ** 2 + (0.5 - 0) ** 2) / 2)
    assert row["prior_brier"] == pytest.approx(((0.1 - 1) ** 2 + 0.1**2) / 2)
    assert evaluation.topk.set_index("k").loc[1, "n"] == 1  # rows 0 (known, low); row 2 normal


# --- properties ----------------------------------------------------------------------------------

outcomes = st.integers(1, 200).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.floats(0, 1), min_size=n, max_size=n),
        st.permutations(range(n)),
    )
)


@given(outcomes, st.integers(1, 20))
def test_metrics_are_bounded_count_everything_and_ignore_row_order(data, n_bins):
    y, p, order = (np.asarray(a) for a in data)
    assert 0.0 <= brier_score(y, p) <= 1.0
    assert 0.0 <= expected_calibration_error(y, p, n_bins) <= 1.0
    assert log_loss(y, p) >= 0.0
    assert reliability_table(y, p, n_bins)["count"].sum() == len(y)
    assert brier_score(y[order], p[order]) == pytest.approx(brier_score(y, p))
    assert log_loss(y[order], p[order]) == pytest.approx(log_loss(y, p))
    assert expected_calibration_error(y[order], p[order], n_bins) == pytest.approx(
        expected_calibration_error(y, p, n_bins)
    )


@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 6), st.randoms())
def test_top_k_ignores_row_order_and_grows_with_k(rows, columns, k, rnd):
    rng = np.random.default_rng(rnd.randint(0, 2**32 - 1))
    prob, truth = rng.random((rows, columns)), rng.random((rows, columns)) < 0.3
    order = rng.permutation(rows)
    acc, n = top_k_accuracy(prob, truth, k)
    assert (acc, n) == pytest.approx(top_k_accuracy(prob[order], truth[order], k), nan_ok=True)
    more, _ = top_k_accuracy(prob, truth, k + 1)
    assert n == 0 or more >= acc
    assert n == 0 or top_k_accuracy(prob, truth, columns)[0] == 1.0


# --- the model on its own simulated cohorts ------------------------------------------------------

# measured over 15 seeds at 3,000 cases with half the answers revealed: pooled ECE 0.0019 to
# 0.0046, the worst single cause state 0.016 to 0.025; cohorts from truths drawn from the
# priors' uncertainty gave pooled ECE 0.007 to 0.04 (median 0.013)
SELF_N = 3000
POOLED_ECE_MAX = 0.008
STATE_ECE_MAX = 0.04


@pytest.fixture(scope="module")
def self_evaluation(model):
    cohort = simulate_cohort(model.priors, SELF_N, seed=11, reveal=0.5)
    return evaluate_cohort(model, cohort, progress=False)


def test_the_model_is_calibrated_on_its_own_cohort(self_evaluation):
    metrics = self_evaluation.metrics.set_index("label")
    assert metrics.loc[ALL, "ece"] < POOLED_ECE_MAX
    assert (metrics["ece"] < STATE_ECE_MAX).all(), metrics["ece"]
    # the mean prediction of each state matches its frequency within sampling error
    se = np.sqrt(metrics["prevalence"] * (1 - metrics["prevalence"]) / metrics["n"])
    assert ((metrics["mean_predicted"] - metrics["prevalence"]).abs() < 4 * se + 1e-9).all()


def test_answers_beat_the_prior_and_the_ranking_beats_ranking_by_prior(self_evaluation):
    metrics = self_evaluation.metrics.set_index("label")
    assert (metrics["brier"] < metrics["prior_brier"]).all()
    topk = self_evaluation.topk.set_index("k")
    assert (topk["accuracy"] > topk["prior_only"]).all()
    assert topk.loc[3, "accuracy"] > topk.loc[1, "accuracy"]
    assert self_evaluation.reliability[ALL]["count"].sum() == SELF_N * (len(metrics) - 1)


def test_simulated_cohort_reveals_answers_with_the_given_probability(model):
    full = simulate_cohort(model.priors, 2000, seed=3, reveal=1.0)
    half = simulate_cohort(model.priors, 2000, seed=3, reveal=0.5)
    none = simulate_cohort(model.priors, 10, seed=3, reveal=0.0)
    assert (full.answers >= 0).all() and (none.answers < 0).all()
    shown = half.answers >= 0
    assert 0.47 < shown.mean() < 0.53
    assert (half.answers[shown] == full.answers[shown]).all()  # the same cases, partly hidden
    assert not set(full.columns) & set(model.causes)


def test_misspecified_truths_cost_log_loss_and_calibration(model, self_evaluation):
    table = misspecification(model, 2000, truths=3, spreads=(0, 1), seed=5, reveal=0.5)
    own = table[table["spread"] == 0].iloc[0]
    assert own["distance"] == 0.0 and own["regret"] == pytest.approx(0.0, abs=1e-12)
    drawn = table[table["spread"] == 1]
    assert len(drawn) == 3 and (drawn["distance"] > 0).all()
    # on the same cases the truth's own posteriors do better than the model's (proper score)
    assert (drawn["regret"] > 0).all()
    assert drawn["ece"].mean() > self_evaluation.summary()["ece"]


def test_wider_spread_moves_the_truth_further(model):
    point = node_tables(model.priors)
    assert table_distance(model.priors, point, point) == 0.0

    def mean_distance(factor):
        drawn = draw_tables(scale_confidence(model.priors, factor), 4, seed=1)
        return np.mean(
            [table_distance(model.priors, {v: t[j] for v, t in drawn.items()}) for j in range(4)]
        )

    assert mean_distance(1) < mean_distance(4) < mean_distance(16)


def test_scale_confidence_divides_every_confidence_and_keeps_the_numbers(model):
    scaled = scale_confidence(model.priors, 4)
    before = model.priors.nodes["dehydration"].cpd.leak["yes"]
    after = scaled.nodes["dehydration"].cpd.leak["yes"]
    assert after.p == before.p and after.confidence == pytest.approx(before.confidence / 4)
    assert model.priors.nodes["dehydration"].cpd.leak["yes"].confidence == before.confidence


def test_evaluate_accepts_another_engine_as_predictor(model):
    # the truth's own engine on the truth's cohort: calibrated again (the oracle)
    drawn = draw_tables(scale_confidence(model.priors, 4), 1, seed=2)
    truth = {v: t[0] for v, t in drawn.items()}
    cohort = simulate_cohort(model.priors, SELF_N, seed=4, reveal=0.5, tables=truth)
    oracle = evaluate_cohort(CrampModel(model.priors, truth), cohort, progress=False)
    point = evaluate_cohort(model, cohort, progress=False)
    assert oracle.summary()["ece"] < POOLED_ECE_MAX
    assert oracle.summary()["log_loss"] < point.summary()["log_loss"]


# --- crampnet evaluate ---------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def case_table(model, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """30 sampled cases: four answers, two cause columns with some truths unknown."""
    frame = sample_cases(model.priors, 30, seed=8)[
        ["leg_cramp_side", "nocturnal_cramps", "low_fluid_intake", "calcium", "dehydration"]
    ].astype(object)
    frame.loc[::4, "calcium"] = None  # unknown truths
    frame.loc[1::5, "nocturnal_cramps"] = None  # unanswered
    frame.insert(0, "id", [f"p{k}" for k in range(len(frame))])
    path = tmp_path_factory.mktemp("calibration") / "confirmed.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_cli_scores_each_cause_from_the_other_answers(capsys, model, case_table):
    path, frame = case_table
    code, out, err = run(capsys, "evaluate", str(path), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["notice"] == model.priors.meta.notice
    rows = {r["label"]: r for r in got["metrics"]}
    assert set(rows) == {"calcium=low", "calcium=high", "dehydration=yes", ALL}
    # the same numbers case by case through the engine's one-case path
    answers = ["leg_cramp_side", "nocturnal_cramps", "low_fluid_intake"]
    for cause, state in [("calcium", "low"), ("calcium", "high"), ("dehydration", "yes")]:
        known = frame[frame[cause].notna()]
        p = [
            model.engine.posteriors([cause], {a: r[a] for a in answers if isinstance(r[a], str)})[
                cause
            ][state]
            for _, r in known.iterrows()
        ]
        y = (known[cause] == state).to_numpy()
        assert rows[f"{cause}={state}"]["n"] == len(known)
        assert rows[f"{cause}={state}"]["brier"] == pytest.approx(np.mean((np.array(p) - y) ** 2))


def test_cli_prints_the_table_and_writes_the_reliability_diagram(capsys, case_table, tmp_path):
    path, _ = case_table
    code, out, err = run(capsys, "evaluate", str(path), "--plots", str(tmp_path))
    assert code == 0, err
    assert "calcium = low" in out and "all (pooled)" in out and "top-3 accuracy" in out
    png = tmp_path / "reliability.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_simulate(capsys):
    code, out, _ = run(capsys, "evaluate", "--simulate", "400", "--seed", "2", "--json")
    got = json.loads(out)
    assert code == 0 and got["n_cases"] == 400 and got["model"]["sha256"]
    assert sum(r["count"] for r in got["reliability"][ALL]) == 400 * (len(got["metrics"]) - 1)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give a CASES file, --simulate N or --cases-db (one of them)"),
        (["x.csv", "--cases-db"], "give a CASES file, --simulate N or --cases-db (one of them)"),
        (["--simulate", "0"], "--simulate must be a positive number"),
        (["--simulate", "10", "--reveal", "2"], "--reveal must be a probability"),
        (["--simulate", "10", "--bins", "0"], "--bins must be at least 1"),
    ],
)
def test_cli_usage_errors(capsys, argv, message):
    code, _, err = run(capsys, "evaluate", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_file_errors_name_the_problem(capsys, tmp_path):
    no_cause = tmp_path / "no_cause.csv"
    no_cause.write_text("leg_cramp_side,nocturnal_cramps\nleft,yes\n")
    code, _, err = run(capsys, "evaluate", str(no_cause))
    assert code == 2 and "no cause column" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("leg_cramp_side,calcium\nleft,low\nright,lowish\n")
    code, _, err = run(capsys, "evaluate", str(bad))
    assert code == 2 and "row 2 (line 3)" in err and "lowish" in err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("leg_cramp_side,calcium\nleft,\n")
    code, _, err = run(capsys, "evaluate", str(unknown))
    assert code == 2 and "no row gives a confirmed cause" in err


def test_evaluate_needs_a_cause(model):
    cohort = simulate_cohort(model.priors, 5, seed=0)
    with pytest.raises(ValueError, match="no cause to evaluate"):
        evaluate(model, cohort.answers, cohort.columns, {"leg_cramp_side": cohort.answers[:, 0]})
