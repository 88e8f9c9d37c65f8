"""Learning from case data: the E-step against brute force, EM's guarantees, parameter
recovery on a known small network, and the learned priors set written, loaded and used.

The small network is written in our own YAML format to ``tmp_path``: two risk factors
(tables), a three-state cause (a leaky noisy-OR with two active states, ties split evenly, and
an interaction), a finding (noisy-OR), a trial with an uninformative ``not_tried`` state and a
deterministic finding, so every kind of number EM updates appears once.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from model import default_model
from model.analysis.learning import (
    FamilyCounts,
    learn,
    learnable,
    log_prior,
    m_step,
    node_tables_for,
    prior_values,
)
from model.analysis.sampling import sample_codes
from model.cli.crampnet import main
from model.knowledge.priors import load_priors
from model.knowledge.writer import write_priors

PRIOR = {  # the stated numbers of the small network
    "exercise": 0.30,
    "diet_poor": 0.40,
    "salt_leak_low": 0.10,
    "salt_leak_high": 0.05,
    "salt_exercise_low": 0.40,
    "salt_diet_low": 0.30,
    "salt_diet_high": 0.20,
    "salt_both_high": 0.30,
    "cramp_leak": 0.10,
    "cramp_low": 0.60,
    "cramp_high": 0.40,
    "trial_leak": 0.10,
    "trial_low": 0.70,
    "trial_not_tried": 0.50,
}
TRUTH = {  # the numbers the synthetic cases are drawn from: every one differs from PRIOR
    "exercise": 0.45,
    "diet_poor": 0.25,
    "salt_leak_low": 0.20,
    "salt_leak_high": 0.10,
    "salt_exercise_low": 0.25,
    "salt_diet_low": 0.50,
    "salt_diet_high": 0.35,
    "salt_both_high": 0.10,
    "cramp_leak": 0.20,
    "cramp_low": 0.80,
    "cramp_high": 0.25,
    "trial_leak": 0.20,
    "trial_low": 0.50,
    "trial_not_tried": 0.30,
}
KEYS = {  # each name's key in model.learning.learnable
    "exercise": ("exercise", "rows", 0),
    "diet_poor": ("diet", "rows", 0),
    "salt_leak_low": ("salt", "leak", "low"),
    "salt_leak_high": ("salt", "leak", "high"),
    "salt_exercise_low": ("salt", "links", "exercise", "yes", "low"),
    "salt_diet_low": ("salt", "links", "diet", "poor", "low"),
    "salt_diet_high": ("salt", "links", "diet", "poor", "high"),
    "salt_both_high": ("salt", "interactions", 0, "towards", "high"),
    "cramp_leak": ("cramp", "leak", "yes"),
    "cramp_low": ("cramp", "links", "salt", "low", "yes"),
    "cramp_high": ("cramp", "links", "salt", "high", "yes"),
    "trial_leak": ("trial", "leak", "improved"),
    "trial_low": ("trial", "links", "salt", "low", "improved"),
    "trial_not_tried": ("trial", "uninformative"),
}


def small_priors(directory: Path, v: dict[str, float], confidence: float = 5.0) -> Path:
    """Write the small network with numbers ``v`` to ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    c = confidence
    (directory / "model.yaml").write_text(
        "name: small\nversion: '1.0'\ndescription: a test network\nnotice: not advice\n"
        "node_files: [nodes.yaml]\nclaims_file: claims.yaml\nred_flags_file: red_flags.yaml\n"
    )
    (directory / "claims.yaml").write_text(
        "source: a test\nclaims:\n  C01: {section: one, text: salt matters}\n"
    )
    (directory / "red_flags.yaml").write_text("red_flags: {}\n")
    (directory / "nodes.yaml").write_text(
        f"""nodes:
  exercise:
    kind: context
    label: Exercise
    question: Do you exercise?
    states: ["yes", "no"]
    cpd:
      type: table
      rows:
        - {{probs: {{"yes": {v["exercise"]}, "no": {1 - v["exercise"]}}}, elicited: a guess,
            confidence: {c}}}
  diet:
    kind: context
    label: Diet
    question: Is your diet poor?
    states: [poor, ok]
    cpd:
      type: table
      rows:
        - {{probs: {{poor: {v["diet_poor"]}, ok: {1 - v["diet_poor"]}}}, elicited: a guess,
            confidence: {c}}}
  salt:
    kind: cause
    label: Salt
    question: Salt status
    states: [low, normal, high]
    normal_state: normal
    parents: [exercise, diet]
    cpd:
      type: noisy_or
      off_state: normal
      leak:
        low: {{p: {v["salt_leak_low"]}, elicited: a guess, confidence: {c}}}
        high: {{p: {v["salt_leak_high"]}, elicited: a guess, confidence: {c}}}
      links:
        exercise:
          "yes": {{low: {{p: {v["salt_exercise_low"]}, claims: [C01], confidence: {c}}}}}
        diet:
          poor:
            low: {{p: {v["salt_diet_low"]}, elicited: a guess, confidence: {c}}}
            high: {{p: {v["salt_diet_high"]}, elicited: a guess, confidence: {c}}}
      interactions:
        - when: {{exercise: "yes", diet: poor}}
          towards:
            high: {{p: {v["salt_both_high"]}, elicited: a guess, confidence: {c}}}
  cramp:
    kind: finding
    label: Cramp
    question: Do you cramp?
    states: ["yes", "no"]
    parents: [salt]
    cpd:
      type: noisy_or
      off_state: "no"
      leak: {{"yes": {{p: {v["cramp_leak"]}, elicited: a guess, confidence: {c}}}}}
      links:
        salt:
          low: {{"yes": {{p: {v["cramp_low"]}, elicited: a guess, confidence: {c}}}}}
          high: {{"yes": {{p: {v["cramp_high"]}, elicited: a guess, confidence: {c}}}}}
  trial:
    kind: finding
    label: Salt trial
    question: Did extra salt help?
    states: [not_tried, improved, no_change]
    parents: [salt]
    cpd:
      type: noisy_or
      off_state: no_change
      uninformative: {{state: not_tried, p: {v["trial_not_tried"]}, elicited: a guess,
                      confidence: {c}}}
      leak: {{improved: {{p: {v["trial_leak"]}, elicited: a guess, confidence: {c}}}}}
      links:
        salt:
          low: {{improved: {{p: {v["trial_low"]}, elicited: a guess, confidence: {c}}}}}
  bothered:
    kind: finding
    label: Bothered
    question: Are you bothered?
    states: ["yes", "no"]
    parents: [cramp, exercise]
    cpd:
      type: deterministic
      elicited: a definition
      cases:
        - {{when: {{cramp: "yes", exercise: "yes"}}, state: "yes"}}
        - {{when: {{cramp: "yes", exercise: "no"}}, state: "yes"}}
        - {{when: {{cramp: "no", exercise: "yes"}}, state: "no"}}
        - {{when: {{cramp: "no", exercise: "no"}}, state: "no"}}
""",
        encoding="utf-8",
    )
    return directory


def scalar(values: dict, name: str) -> float:
    """A number of the small network from learned values (a row by its first probability)."""
    return float(np.atleast_1d(values[KEYS[name]])[0])


def families_of(priors) -> FamilyCounts:
    return FamilyCounts(
        {n: s.states for n, s in priors.nodes.items()},
        {n: tuple(s.parents) for n, s in priors.nodes.items()},
    )


def cohort(priors, truth_priors, n: int, hide: str, fraction: float, seed: int):
    """``n`` cases drawn from ``truth_priors``, ``hide`` unanswered in ``fraction`` of them."""
    sampled = sample_codes(truth_priors, n, seed=seed)
    columns = list(priors.nodes)
    codes = np.stack([sampled[c] for c in columns], axis=1).astype(np.int16)
    hidden = np.random.default_rng(seed + 1).random(n) < fraction
    codes[hidden, columns.index(hide)] = -1
    return columns, codes


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return load_priors(small_priors(tmp_path_factory.mktemp("prior"), PRIOR))


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    return load_priors(small_priors(tmp_path_factory.mktemp("truth"), TRUTH))


# --- the E-step -------------------------------------------------------------------------------


def brute_force_counts(priors, tables, columns, codes):
    """Family counts and log P(answers) by enumerating the whole joint distribution."""
    nodes = list(priors.nodes)
    card = [len(priors.nodes[n].states) for n in nodes]
    counts = {n: np.zeros(tables[n].shape) for n in nodes}
    log_z = np.zeros(len(codes))
    for r, row in enumerate(codes):
        joint = {}
        for states in itertools.product(*(range(k) for k in card)):
            x = dict(zip(nodes, states, strict=True))
            if any(row[j] >= 0 and x[c] != row[j] for j, c in enumerate(columns)):
                continue
            joint[states] = math.prod(
                tables[n][(x[n], *(x[p] for p in priors.nodes[n].parents))] for n in nodes
            )
        z = sum(joint.values())
        log_z[r] = math.log(z)
        for states, weight in joint.items():
            x = dict(zip(nodes, states, strict=True))
            for n in nodes:
                counts[n][(x[n], *(x[p] for p in priors.nodes[n].parents))] += weight / z
    return counts, log_z


def test_family_counts_equal_brute_force_enumeration(small):
    tables = node_tables_for(small, prior_values(small))
    columns = list(small.nodes)
    codes = np.stack([sample_codes(small, 40, seed=3)[c] for c in columns], 1).astype(np.int16)
    rng = np.random.default_rng(4)
    codes[rng.random(codes.shape) < 0.5] = -1  # every pattern of missing answers, mixed
    codes[0] = -1  # one case with no answer at all
    expected, expected_log_z = brute_force_counts(small, tables, columns, codes)
    counts, log_z = families_of(small).count(tables, columns, codes, batch=7)
    np.testing.assert_allclose(log_z, expected_log_z, rtol=0, atol=1e-9)
    for node in columns:
        np.testing.assert_allclose(counts[node], expected[node], rtol=0, atol=1e-9)
    # weights count a row that many times
    weighted, _ = families_of(small).count(tables, columns, codes[:5], np.array([1, 2, 0, 1, 3]))
    repeated = np.repeat(codes[:5], [1, 2, 0, 1, 3], axis=0)
    plain, _ = families_of(small).count(tables, columns, repeated)
    np.testing.assert_allclose(weighted["salt"], plain["salt"], atol=1e-12)


def test_m_step_with_complete_data_follows_the_hand_derived_updates(small):
    """With nothing hidden, each update can be derived by hand from the counts."""
    columns = list(small.nodes)
    sampled = sample_codes(small, 3000, seed=5)
    codes = np.stack([sampled[c] for c in columns], 1).astype(np.int16)
    counts, _ = families_of(small).count(
        node_tables_for(small, prior_values(small)), columns, codes
    )
    update = m_step(small, prior_values(small), counts)
    exercise = counts["exercise"]
    assert update.values[KEYS["exercise"]][0] == pytest.approx(
        (exercise[0] + 5 * 0.3) / (exercise.sum() + 5)
    )
    # the uninformative constant: share of not_tried among all cases, with 5 pseudo-cases
    trial = counts["trial"]
    assert update.values[KEYS["trial_not_tried"]] == pytest.approx(
        (trial[0].sum() + 5 * 0.5) / (trial.sum() + 5)
    )
    assert update.applied[KEYS["trial_not_tried"]] == pytest.approx(3000)
    # the cramp leak: surely fired in a cramp with normal salt; with low (high) salt, fired
    # with probability leak / P(cramp | low), as the link may have fired instead
    cramp = counts["cramp"]  # (yes, no) x (low, normal, high)
    leak, low, high = 0.10, 0.60, 0.40
    fired = (
        cramp[0, 1]
        + cramp[0, 0] * leak / (1 - (1 - leak) * (1 - low))
        + cramp[0, 2] * leak / (1 - (1 - leak) * (1 - high))
    )
    assert update.values[KEYS["cramp_leak"]] == pytest.approx((fired + 5 * leak) / (3000 + 5))
    assert update.applied[KEYS["cramp_leak"]] == pytest.approx(3000)
    # a link applies exactly where its parent state holds
    fired = cramp[0, 0] * low / (1 - (1 - leak) * (1 - low))
    assert update.applied[KEYS["cramp_low"]] == pytest.approx(cramp[:, 0].sum())
    assert update.values[KEYS["cramp_low"]] == pytest.approx(
        (fired + 5 * low) / (cramp[:, 0].sum() + 5)
    )


# --- EM ---------------------------------------------------------------------------------------


def test_zero_cases_return_the_priors_unchanged(small):
    result = learn(small, list(small.nodes), np.zeros((0, len(small.nodes)), dtype=np.int16))
    assert result.iterations == 0 and result.n_cases == 0
    for key, value in prior_values(small).items():
        assert np.array_equal(np.atleast_1d(result.values[key]), np.atleast_1d(value))


def test_log_posterior_never_decreases(small, truth):
    columns, codes = cohort(small, truth, 2000, hide="salt", fraction=0.8, seed=11)
    codes[np.random.default_rng(12).random(codes.shape) < 0.3] = -1  # other answers missing too
    result = learn(small, columns, codes, max_iter=25, tol=1e-12)
    assert result.iterations == 25
    steps = np.diff(result.history)
    assert (steps >= -1e-9 * abs(result.history[0])).all(), steps
    assert result.history[-1] > result.history[0] + 1.0  # and it does climb


def test_impossible_cases_are_left_out_and_counted(small, truth):
    columns, codes = cohort(small, truth, 500, hide="salt", fraction=0.8, seed=13)
    bad = np.full((2, len(columns)), -1, dtype=np.int16)
    bad[:, columns.index("cramp")] = 0  # cramp = yes but bothered = no: impossible
    bad[:, columns.index("bothered")] = 1
    with_bad = learn(small, columns, np.concatenate([codes, bad]), max_iter=3)
    without = learn(small, columns, codes, max_iter=3)
    assert with_bad.n_impossible == 2 and with_bad.n_cases == 500
    assert with_bad.history == pytest.approx(without.history, rel=1e-12)
    for key, value in without.values.items():
        np.testing.assert_allclose(with_bad.values[key], value, rtol=1e-12)


def test_learning_from_prior_samples_with_huge_confidence_stays_put(tmp_path):
    """Numbers held with near-infinite confidence barely move, whatever the data say."""
    stubborn = load_priors(small_priors(tmp_path / "p", PRIOR, confidence=1e9))
    truth = load_priors(small_priors(tmp_path / "t", TRUTH))
    columns, codes = cohort(stubborn, truth, 2000, hide="salt", fraction=0.8, seed=2)
    result = learn(stubborn, columns, codes, max_iter=5)
    for name in PRIOR:
        assert scalar(result.values, name) == pytest.approx(PRIOR[name], abs=1e-5)


def standard_errors(priors, values, columns, codes) -> dict[str, float]:
    """Standard errors of the named numbers from the observed information: the numerical
    Hessian of the log-likelihood at ``values`` (central differences)."""
    rows, weights = np.unique(codes, axis=0, return_counts=True)
    families = families_of(priors)
    names = list(KEYS)

    def loglik(x: np.ndarray) -> float:
        moved = dict(values)
        for name, xi in zip(names, x, strict=True):
            key = KEYS[name]
            moved[key] = np.array([xi, 1 - xi]) if key[1] == "rows" else xi
        _, log_z = families.count(node_tables_for(priors, moved), columns, rows, weights)
        return float(weights @ log_z)

    x0 = np.array([scalar(values, n) for n in names])
    h = 1e-4
    k = len(names)
    hessian = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            hessian[i, j] = hessian[j, i] = (
                loglik(x0 + e_i + e_j)
                - loglik(x0 + e_i - e_j)
                - loglik(x0 - e_i + e_j)
                + loglik(x0 - e_i - e_j)
            ) / (4 * h * h)
    covariance = np.linalg.inv(-hessian)
    return dict(zip(names, np.sqrt(np.diag(covariance)), strict=True))


def test_em_recovers_a_known_network_with_80_percent_of_the_cause_hidden(small, truth):
    """20,000 cases from TRUTH, the cause hidden in 80% of them, learned from PRIOR.

    Tolerance: 4 standard errors of each number, from the observed information at the
    estimate (the numerical Hessian of the log-likelihood), plus the pull of the prior's 5
    pseudo-cases (at most 5 / (applied + 5) times the gap between prior and truth). With 14
    numbers, 4 standard errors keep the chance that any one misses by luck below 0.1%.
    """
    columns, codes = cohort(small, truth, 20_000, hide="salt", fraction=0.8, seed=7)
    result = learn(small, columns, codes, tol=1e-9, max_iter=1000)
    assert result.converged and result.n_cases == 20_000
    errors = standard_errors(small, result.values, columns, codes)
    for name, true in TRUTH.items():
        learned = scalar(result.values, name)
        pull = 5 / (result.applied[KEYS[name]] + 5) * abs(PRIOR[name] - true)
        assert abs(learned - true) <= 4 * errors[name] + pull, (name, learned, true)
        assert abs(learned - true) < abs(PRIOR[name] - true)  # closer than the prior was
        assert errors[name] < abs(PRIOR[name] - true) / 2  # data can tell truth from prior


# --- the learned priors set -------------------------------------------------------------------


def test_written_priors_load_with_learned_provenance_beside_every_learned_number(
    small, truth, tmp_path
):
    columns, codes = cohort(small, truth, 3000, hide="salt", fraction=0.8, seed=9)
    result = learn(small, columns, codes, max_iter=20)
    out = write_priors(
        small,
        result.values,
        tmp_path / "learned",
        "cases.csv",
        result.n_cases,
        applied=result.applied,
    )
    learned = load_priors(out)
    assert learned.meta.version == "1.0+learned"
    assert "cases.csv (3000 cases)" in learned.meta.description
    assert set(learnable(learned)) == set(learnable(small))
    for key, item in learnable(learned).items():
        assert item.learned == "cases.csv (3000 cases)", key
        original = learnable(small)[key]
        assert item.claims == original.claims and item.elicited == original.elicited
        assert item.confidence == pytest.approx(original.confidence + result.applied[key], abs=1e-3)
        np.testing.assert_allclose(
            np.atleast_1d(prior_values(learned)[key]), np.atleast_1d(result.values[key]), atol=1e-8
        )
    assert learned.nodes["bothered"].cpd == small.nodes["bothered"].cpd  # nothing to learn
    assert (out / "claims.yaml").read_text() == (small.directory / "claims.yaml").read_text()
    # the learned set's log prior is at the learned values, whose own prior they now are
    assert np.isfinite(log_prior(learned, prior_values(learned)))


def test_zero_cases_written_keep_every_number(small, tmp_path):
    result = learn(small, list(small.nodes), np.zeros((0, len(small.nodes)), dtype=np.int16))
    out = write_priors(small, result.values, tmp_path / "same", "empty.csv", 0)
    again = load_priors(out)
    for key, value in prior_values(small).items():
        assert np.array_equal(np.atleast_1d(prior_values(again)[key]), np.atleast_1d(value))


def test_writing_over_the_source_priors_is_refused(small):
    with pytest.raises(Exception, match="source priors"):
        write_priors(small, prior_values(small), small.directory, "x.csv", 0)


# --- the command line -------------------------------------------------------------------------


def write_csv(priors, codes: dict[str, np.ndarray], path: Path, columns: list[str]) -> Path:
    """Cases as a CSV of state names, empty where ``-1``."""
    lines = [",".join(columns)]
    for r in range(len(codes[columns[0]])):
        cells = [priors.nodes[c].states[codes[c][r]] if codes[c][r] >= 0 else "" for c in columns]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_learns_the_real_priors_and_every_command_reads_the_result(tmp_path, capsys):
    real = load_priors()
    sampled = sample_codes(real, 150, seed=3)
    causes = set(real.ids("cause"))
    hidden = np.random.default_rng(3).random(150) < 0.85
    for node in real.nodes:  # causes confirmed for about 15% of cases; no hidden node shown
        if node in causes:
            sampled[node] = np.where(hidden, -1, sampled[node])
    columns = [n for n in real.nodes if real.nodes[n].kind != "intermediate"]
    csv = write_csv(real, sampled, tmp_path / "cases.csv", columns)
    with csv.open("a") as handle:  # one bad row, reported and skipped
        handle.write("lowish" + "," * (len(columns) - 1) + "\n")
    out = tmp_path / "learned"
    assert main(["learn", str(csv), "-o", str(out), "--max-iter", "2"]) == 0
    stdout, stderr = capsys.readouterr()
    assert "learned from 150 cases (1 skipped for bad cells" in stdout
    assert "2 iterations" in stdout and "numbers that moved most:" in stdout
    assert "cases.csv:row 151 (line 152): unknown state 'lowish'" in stderr
    learned = load_priors(out)
    for key, item in learnable(learned).items():
        assert item.learned == "cases.csv (150 cases)", key
    before, after = prior_values(real), prior_values(learned)
    assert any(not np.allclose(before[k], after[k], atol=1e-3) for k in before)
    assert main(["validate", "--priors", str(out)]) == 0
    assert main(["diagnose", "--priors", str(out), "--set", "leg_cramp_side=left", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert result["model"]["version"] == f"{default_model().priors.meta.version}+learned"
    assert result["posterior"]["calcium"]["low"] > result["prior"]["calcium"]["low"]


def test_cli_with_no_cases_writes_the_priors_numbers_unchanged(small, tmp_path, capsys):
    csv = tmp_path / "empty.csv"
    csv.write_text("exercise,salt,cramp\n")
    out = tmp_path / "same"
    assert main(["learn", str(csv), "-o", str(out), "--priors", str(small.directory)]) == 0
    assert "learned from 0 cases" in capsys.readouterr().out
    assert prior_values(load_priors(out)).keys() == prior_values(small).keys()
    for key, value in prior_values(load_priors(out)).items():
        assert np.array_equal(np.atleast_1d(value), np.atleast_1d(prior_values(small)[key]))


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--max-iter", "-1"], "--max-iter must be 0 or more"),
        (["--tol", "0"], "--tol must be above 0"),
    ],
)
def test_cli_rejects_bad_settings_in_one_line(small, tmp_path, capsys, argv, needle):
    csv = tmp_path / "c.csv"
    csv.write_text("exercise\nyes\n")
    code = main(
        ["learn", str(csv), "-o", str(tmp_path / "o"), "--priors", str(small.directory), *argv]
    )
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
