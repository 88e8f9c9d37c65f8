"""One-way sensitivity, link strengths and the claim roll-up (``model.analysis.sensitivity``).

The batched sweep is checked against an independent path: the priors' YAML edited by hand in a
copy, loaded again and answered by pgmpy's variable elimination. Properties: a number outside
the ancestors of the evidence and the target moves nothing; raising a link strength from an
answered-yes parent raises the cause; interval ends are Beta quantiles. Link strengths and
the roll-up are checked by hand on tiny priors directories.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from model.analysis.sensitivity import (
    UNCITED,
    claim_rollup,
    interval,
    link_strengths,
    one_way_tables,
    parameters,
    read_vignettes,
    sweep,
    sweep_vignettes,
)
from model.analysis.sensitivity_plots import rollup_figure, tornado_figure, vignette_figure
from model.cli.crampnet import main
from model.diagnosis.crampmodel import CrampModel, load_model
from model.knowledge.network import build_network, node_tables
from model.knowledge.priors import load_priors
from model.knowledge.schema import NoisyOrCPD
from tests.oracles.reference import PgmpyEngine

ROOT = Path(__file__).resolve().parent.parent
PRIORS = ROOT / "priors"
CASES = ROOT / "tests" / "data" / "cases.json"


def by_id(model: CrampModel) -> dict:
    return {p.id: p for p in parameters(model.priors)}


# --- interval ends ----------------------------------------------------------------------------


@given(
    p=st.floats(0.01, 0.99),
    n=st.floats(1.0, 200.0),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.95]),
)
def test_interval_ends_are_the_beta_quantiles(p, n, level):
    low, high = interval(p, n, level)
    tail = (1 - level) / 2
    expected = stats.beta(n * p, n * (1 - p)).ppf([tail, 1 - tail])
    assert low == pytest.approx(expected[0], rel=1e-7, abs=1e-12)
    assert high == pytest.approx(expected[1], rel=1e-7, abs=1e-12)
    assert 0 <= low < high <= 1


@pytest.mark.parametrize(("p", "n"), [(0.25, 5.0), (0.6, 4.0), (0.1, 15.0)])
def test_interval_holds_ninety_percent_of_beta_draws(p, n):
    low, high = interval(p, n)
    draws = np.random.default_rng(1).beta(n * p, n * (1 - p), size=200_000)
    assert np.mean(draws < low) == pytest.approx(0.05, abs=0.003)
    assert np.mean(draws > high) == pytest.approx(0.05, abs=0.003)


def test_interval_rejects_a_level_outside_zero_one():
    with pytest.raises(ValueError, match="'level'"):
        interval(0.3, 5, level=1.0)


# --- the parameter list -----------------------------------------------------------------------


def test_every_free_number_is_listed_once_with_its_provenance(model: CrampModel):
    params = parameters(model.priors)
    assert len({p.id for p in params}) == len(params)
    for p in params:
        assert 0 < p.value < 1 and np.isfinite(p.confidence)
        assert p.claims or p.elicited
        assert p.parents == tuple(q for q, _ in p.given)
        assert set(p.parents) <= set(model.priors.nodes[p.node].parents)
    ids = {p.id for p in params}
    assert "calcium:cpd.links.blood_thinners.yes.low" in ids
    assert "calcium:cpd.interactions.0.towards.high" in ids
    assert "iron:cpd.rows.0[low]" in ids and "iron:cpd.rows.0[normal]" not in ids  # one of two
    link = by_id(model)["calcium:cpd.links.blood_thinners.yes.low"]
    assert link.given == (("blood_thinners", "yes"),) and link.claims == ("C24", "C35")
    assert link.label == "blood_thinners=yes -> calcium=low"
    inter = by_id(model)["calcium:cpd.interactions.0.towards.high"]
    assert set(inter.parents) == {"calcium_supplements", "low_stomach_acid"}


def test_a_number_set_to_its_own_value_gives_the_point_tables(model: CrampModel):
    params = parameters(model.priors)[::37]
    tables = one_way_tables(model.priors, [(p, p.value) for p in params])
    for node, table in node_tables(model.priors).items():
        for k in range(len(params)):
            np.testing.assert_allclose(tables[node][k], table, rtol=0, atol=1e-15)


def test_a_setting_outside_zero_one_is_refused(model: CrampModel):
    param = parameters(model.priors)[0]
    with pytest.raises(ValueError, match="not a probability"):
        one_way_tables(model.priors, [(param, 1.5)])


# --- the batched sweep against a rebuilt network ----------------------------------------------


def _edit_number(directory: Path, priors, param, new: float) -> None:
    """Write ``new`` into a copy of the priors' YAML at the parameter's own line."""
    file, line, _ = priors.where(param.node, *param.path).split(":", 2)
    path = directory / Path(file).name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text = lines[int(line) - 1]
    if param.state is None:
        assert len(re.findall(r"\bp: [0-9.]+", text)) == 1, text
        text = re.sub(r"\bp: [0-9.]+", f"p: {new!r}", text)
    else:
        row = param.source.probs
        rest = 1 - row[param.state]
        probs = {s: (new if s == param.state else v * (1 - new) / rest) for s, v in row.items()}
        shown = ", ".join(f'"{s}": {v!r}' for s, v in probs.items())
        text, count = re.subn(r"probs: \{[^}]*\}", f"probs: {{{shown}}}", text)
        assert count == 1, text
    lines[int(line) - 1] = text
    path.write_text("".join(lines), encoding="utf-8")


CHECKED = [
    ("P01", "calcium:cpd.links.blood_thinners.yes.low", ("calcium", "low")),
    ("P01", "left_leg_cramps:cpd.links.calcium.low.yes", ("calcium", "low")),
    ("P04", "calcium:cpd.interactions.0.towards.high", ("calcium", "high")),
    ("P02", "magnesium:cpd.leak.low", ("magnesium", "low")),
    ("P03", "vascular_disease:cpd.rows.0[yes]", ("poor_circulation", "yes")),
    ("P05", "calcium_trial:cpd.links.calcium.low.improved", ("calcium", "low")),
]


@pytest.mark.parametrize(("case_id", "param_id", "target"), CHECKED)
def test_batched_sweep_equals_pgmpy_on_the_edited_priors(
    model: CrampModel, tmp_path: Path, case_id, param_id, target
):
    case = next(c for c in read_vignettes(CASES) if c["id"] == case_id)
    rows = sweep(model, case["evidence"], targets=[target])
    row = rows.set_index("parameter").loc[param_id]
    param = by_id(model)[param_id]
    assert row["swing"] > 1e-3  # the number matters here: the comparison is not vacuous
    for end, column in (("low", "posterior_at_low"), ("high", "posterior_at_high")):
        directory = tmp_path / end
        shutil.copytree(PRIORS, directory)
        _edit_number(directory, model.priors, param, float(row[end]))
        edited = load_priors(directory)
        assert edited.sha256 != model.priors.sha256
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = PgmpyEngine(build_network(edited))
        expected = reference.posteriors([target[0]], case["evidence"])[target[0]][target[1]]
        assert row[column] == pytest.approx(expected, abs=1e-9)
    assert row["point"] == pytest.approx(
        model.engine.posteriors([target[0]], case["evidence"])[target[0]][target[1]], abs=1e-12
    )


# --- properties -------------------------------------------------------------------------------


def _ancestors(model: CrampModel, nodes: set[str]) -> set[str]:
    seen, stack = set(), list(nodes)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(model.priors.nodes[n].parents)
    return seen


EVIDENCE_SETS = [
    {},
    {"leg_cramp_side": "left"},
    {"restless_legs": "yes", "dialysis": "yes"},
    {"calcium_trial": "worsened", "knee_grinding": "yes"},
]


@pytest.mark.parametrize("evidence", EVIDENCE_SETS)
def test_a_number_outside_the_relevant_ancestors_has_zero_swing(model: CrampModel, evidence):
    rows = sweep(model, evidence, targets=[("calcium", "low"), ("iron", "low")])
    for target in ("calcium", "iron"):
        relevant = _ancestors(model, set(evidence) | {target})
        part = rows[rows["target"].str.startswith(target + "=")]
        outside = part[~part["node"].isin(relevant)]
        inside = part[part["node"].isin(relevant)]
        assert len(outside) > 0
        assert outside["swing"].max() < 1e-12
        assert inside["swing"].max() > 1e-3  # the cause's own numbers do move it


def _pushes(model: CrampModel) -> list[tuple[str, str, str, str]]:
    """(cause, parent, parent state, pushed state) of every noisy-OR link from a risk factor."""
    out = []
    for cause in model.causes:
        cpd = model.priors.nodes[cause].cpd
        if isinstance(cpd, NoisyOrCPD):
            for parent, by_state in cpd.links.items():
                if model.priors.nodes[parent].kind == "context":
                    out += [(cause, parent, ps, s) for ps, t in by_state.items() for s in t]
    return out


@given(data=st.data())
def test_raising_a_link_from_an_answered_parent_raises_the_cause(model: CrampModel, data):
    cause, parent, pstate, state = data.draw(st.sampled_from(_pushes(model)))
    rows = sweep(model, {parent: pstate}, targets=[(cause, state)]).set_index("parameter")
    link = rows.loc[f"{cause}:cpd.links.{parent}.{pstate}.{state}"]
    assert link["posterior_at_low"] < link["point"] < link["posterior_at_high"]
    leak = rows.loc[f"{cause}:cpd.leak.{state}"]
    assert leak["effect"] > 0


@pytest.mark.parametrize("answer", ["improved", "no_change", "not_tried"])
def test_the_uninformative_constant_of_a_trial_moves_no_cause(model: CrampModel, answer):
    rows = sweep(model, {"calcium_trial": answer, "leg_cramp_side": "left"}, top=5)
    row = rows[rows["parameter"] == "calcium_trial:cpd.uninformative"]
    assert len(row) == 5 and row["swing"].max() < 1e-12
    link = rows[rows["parameter"] == "calcium_trial:cpd.links.calcium.low.improved"]
    if answer == "not_tried":  # exactly uninformative, whatever the link strength
        assert link["swing"].max() < 1e-12
    else:
        assert link["swing"].max() > 1e-3


def test_default_targets_are_the_top_causes_of_the_diagnosis(model: CrampModel):
    from model import diagnose

    evidence = {"leg_cramp_side": "right", "magnesium_trial": "improved"}
    rows = sweep(model, evidence, top=4)
    ranked = diagnose(evidence, model=model).ranked()[:4]
    assert list(rows["target"].unique()) == [f"{r['cause']}={r['state']}" for r in ranked]
    for _, part in rows.groupby("target", sort=False):
        assert list(part["swing"]) == sorted(part["swing"], reverse=True)
        assert part["swing"].to_numpy() == pytest.approx(np.abs(part["effect"].to_numpy()))


def test_soft_evidence_and_interventions_are_honoured(model: CrampModel):
    soft = {"nocturnal_cramps": {"yes": 0.8, "no": 0.2}}
    rows = sweep(model, {}, soft, {"calcium_supplements": "yes"}, targets=[("calcium", "high")])
    point = model.engine.posteriors(["calcium"], {}, soft, {"calcium_supplements": "yes"})
    assert rows["point"].iloc[0] == pytest.approx(point["calcium"]["high"], abs=1e-12)
    # under do(), the prior of the intervened variable no longer matters
    row = rows.set_index("parameter").loc["calcium_supplements:cpd.rows.0[yes]"]
    assert row["swing"] < 1e-12


def test_bad_evidence_raises_a_named_error(model: CrampModel):
    from model.errors import EvidenceError, ImpossibleEvidenceError

    with pytest.raises(EvidenceError, match="leg_cramp_sid"):
        sweep(model, {"leg_cramp_sid": "left"})
    with pytest.raises(ImpossibleEvidenceError):
        sweep(model, {"leg_cramp_side": "none", "left_leg_cramps": "yes"})
    with pytest.raises(EvidenceError, match="both observed and set"):
        sweep(model, {"dialysis": "yes"}, do={"dialysis": "yes"})


# --- tiny priors: link strengths, row rescaling, roll-up --------------------------------------

TINY_MANIFEST = """\
name: tiny
version: "0.0.1"
description: a tiny test network
notice: not medical advice
node_files: [nodes.yaml]
claims_file: claims.yaml
red_flags_file: red_flags.yaml
"""
TINY_CLAIMS = """\
source: a test
claims:
  C01: {section: s, text: one}
  C02: {section: s, text: two}
  C03: {section: s, text: three}
"""
TINY_NODES = """\
nodes:
  a:
    kind: context
    label: A
    question: A?
    states: ["yes", "no"]
    cpd:
      type: table
      rows:
        - {probs: {"yes": 0.3, "no": 0.7}, claims: [C01], confidence: 10}
  e:
    kind: context
    label: E
    question: E?
    states: ["yes", "no"]
    cpd:
      type: table
      rows:
        - {probs: {"yes": 0.4, "no": 0.6}, elicited: a guess, confidence: 10}
  t:
    kind: context
    label: T
    question: T?
    states: [lo, mid, hi]
    cpd:
      type: table
      rows:
        - {probs: {lo: 0.2, mid: 0.5, hi: 0.3}, elicited: a guess, confidence: 12}
  copy:
    kind: finding
    label: Copy of A
    question: copy?
    states: ["yes", "no"]
    parents: [a]
    cpd:
      type: deterministic
      claims: [C03]
      cases:
        - {when: {a: "yes"}, state: "yes"}
        - {when: {a: "no"}, state: "no"}
  same:
    kind: finding
    label: Same whatever A
    question: same?
    states: ["yes", "no"]
    parents: [a]
    cpd:
      type: table
      rows:
        - {when: {a: "yes"}, probs: {"yes": 0.2, "no": 0.8}, elicited: flat, confidence: 5}
        - {when: {a: "no"}, probs: {"yes": 0.2, "no": 0.8}, elicited: flat, confidence: 5}
  d:
    kind: cause
    label: D
    question: D?
    states: ["yes", "no"]
    normal_state: "no"
    parents: [a, e]
    cpd:
      type: noisy_or
      off_state: "no"
      leak: {"yes": {p: 0.1, elicited: leak, confidence: 8}}
      links:
        a: {"yes": {"yes": {p: 0.6, claims: [C01, C02], confidence: 5}}}
        e: {"yes": {"yes": {p: 0.3, claims: [C02], confidence: 5}}}
  f:
    kind: finding
    label: F
    question: F?
    states: ["yes", "no"]
    parents: [d]
    cpd:
      type: noisy_or
      off_state: "no"
      leak: {"yes": {p: 0.05, elicited: leak, confidence: 8}}
      links:
        d: {"yes": {"yes": {p: 0.7, claims: [C02], confidence: 6}}}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> CrampModel:
    directory = tmp_path_factory.mktemp("tiny")
    (directory / "model.yaml").write_text(TINY_MANIFEST)
    (directory / "claims.yaml").write_text(TINY_CLAIMS)
    (directory / "red_flags.yaml").write_text("red_flags: {}\n")
    (directory / "nodes.yaml").write_text(textwrap.dedent(TINY_NODES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(directory)


def test_link_strength_of_identity_is_one_and_of_a_flat_table_zero(tiny: CrampModel):
    links = link_strengths(tiny).set_index(["parent", "child"])
    assert links.loc[("a", "copy"), "strength_max"] == pytest.approx(1.0, abs=1e-15)
    assert links.loc[("a", "copy"), "strength_mean"] == pytest.approx(1.0, abs=1e-15)
    assert links.loc[("a", "copy"), "claims"] == ("C03",)
    assert links.loc[("a", "same"), "strength_max"] == pytest.approx(0.0, abs=1e-15)
    assert links.loc[("a", "same"), "strength_mean"] == pytest.approx(0.0, abs=1e-15)


def test_link_strength_of_a_noisy_or_by_hand(tiny: CrampModel):
    links = link_strengths(tiny).set_index(["parent", "child"])
    leak, pa, pe, prior_e, prior_a = 0.1, 0.6, 0.3, 0.4, 0.3
    # P(d=yes | a=yes, e) - P(d=yes | a=no, e) = (1 - leak) (1 - pe [e=yes]) pa
    assert links.loc[("a", "d"), "strength_max"] == pytest.approx((1 - leak) * pa)
    mean = prior_e * (1 - leak) * (1 - pe) * pa + (1 - prior_e) * (1 - leak) * pa
    assert links.loc[("a", "d"), "strength_mean"] == pytest.approx(mean)
    mean_e = prior_a * (1 - leak) * (1 - pa) * pe + (1 - prior_a) * (1 - leak) * pe
    assert links.loc[("e", "d"), "strength_mean"] == pytest.approx(mean_e)
    assert links.loc[("a", "d"), "claims"] == ("C01", "C02")
    assert links.loc[("d", "f"), "strength_max"] == pytest.approx((1 - 0.05) * 0.7)


def test_a_row_entry_moves_with_the_rest_of_its_row_in_proportion(tiny: CrampModel):
    params = {p.id: p for p in parameters(tiny.priors)}
    assert {"t:cpd.rows.0[lo]", "t:cpd.rows.0[mid]", "t:cpd.rows.0[hi]"} <= set(params)
    tables = one_way_tables(tiny.priors, [(params["t:cpd.rows.0[mid]"], 0.8)])
    np.testing.assert_allclose(tables["t"][0], [0.2 * 0.2 / 0.5, 0.8, 0.3 * 0.2 / 0.5])
    low, high = interval(0.5, 12)
    assert stats.beta(6, 6).cdf(low) == pytest.approx(0.05)


def test_rollup_sums_the_swings_of_the_parameters_citing_each_claim(tiny: CrampModel):
    rows = sweep_vignettes(
        tiny,
        [{"id": "x", "evidence": {"f": "yes"}}, {"id": "y", "evidence": {"f": "yes", "a": "no"}}],
        top=1,
    )
    links = link_strengths(tiny)
    rollup = claim_rollup(rows, links).set_index("claim")
    for claim in ("C01", "C02", UNCITED):
        citing = [r for r in rows.itertuples() if claim in (r.claims or (UNCITED,))]
        assert rollup.loc[claim, "swing_sum"] == pytest.approx(sum(r.swing for r in citing))
        assert rollup.loc[claim, "swing_max"] == pytest.approx(max(r.swing for r in citing))
        assert rollup.loc[claim, "parameters"] == len({r.parameter for r in citing})
        best = max(citing, key=lambda r: r.swing)
        assert (rollup.loc[claim, "case_max"], rollup.loc[claim, "target_max"]) == (
            best.case,
            best.target,
        )
    # C03 is cited only by a definition: no parameter, one link of strength 1
    assert rollup.loc["C03", "parameters"] == 0 and rollup.loc["C03", "swing_sum"] == 0
    assert rollup.loc["C03", "links"] == 1
    assert rollup.loc["C03", "link_strength_max"] == pytest.approx(1.0)
    assert rollup.loc["C02", "links"] == 3  # a -> d, e -> d, d -> f
    assert list(rollup["swing_sum"]) == sorted(rollup["swing_sum"], reverse=True)


# --- figures and the command line -------------------------------------------------------------


def test_figures_draw_what_they_are_given(model: CrampModel):
    from model import diagnose

    evidence = {"leg_cramp_side": "left", "nocturnal_cramps": "yes"}
    rows = sweep(model, evidence, top=2, case="demo")
    fig = tornado_figure(rows, top=7)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 7
    top_label = ax.get_yticklabels()[-1].get_text()
    assert top_label.startswith(rows["label"].iloc[0])
    with pytest.raises(ValueError, match="no sweep rows"):
        tornado_figure(rows, "iron=high")
    assert len(rollup_figure(claim_rollup(rows), top=5).axes[0].patches) == 5
    result = diagnose(evidence, model=model)
    fig = vignette_figure(result, "demo", top=6)
    assert len(fig.axes[0].patches) == 12  # prior and posterior for each of six states


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"evidence": {"leg_cramp_side": "left", "blood_thinners": "yes"}}))
    return path


def test_cli_prints_the_top_parameters_per_cause(capsys, case_file: Path, model: CrampModel):
    code, out, err = run(capsys, "sensitivity", str(case_file), "--top", "3", "--causes", "2")
    assert code == 0 and err == ""
    rows = sweep(model, {"leg_cramp_side": "left", "blood_thinners": "yes"}, top=2)
    for target, part in rows.groupby("target", sort=False):
        assert f"{target}: posterior {part['point'].iloc[0]:.3f}" in out
        for label in part["label"].head(3):
            assert label in out
        assert part["label"].iloc[3] not in out.split(target)[1].split("\n\n")[0]


def test_cli_json_and_plot(capsys, case_file: Path, tmp_path: Path, model: CrampModel):
    plot = tmp_path / "tornado.png"
    code, out, _ = run(
        capsys, "sensitivity", str(case_file), "--json", "--top", "2", "--plot", str(plot)
    )
    assert code == 0
    got = json.loads(out)
    assert set(got) == {"notice", "case", "level", "parameters", "model"}
    assert got["notice"] == model.priors.meta.notice
    assert got["model"] == model.identity
    assert len(got["parameters"]) == 2 * 3
    first = got["parameters"][0]
    rows = sweep(model, {"leg_cramp_side": "left", "blood_thinners": "yes"})
    assert first["parameter"] == rows["parameter"].iloc[0]
    assert first["swing"] == pytest.approx(rows["swing"].iloc[0], abs=1e-6)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        ('{"evidence": {\n "leg_cramp_sid": "left"}}', [], ":2: unknown variable 'leg_cramp_sid'"),
        ("{not json", [], "not valid JSON"),
        ('{"evidence": {}}', ["--top", "0"], "positive whole number"),
        ('{"evidence": {}}', ["--plot", "out.gif"], "--plot must end in"),
    ],
)
def test_cli_errors_are_one_line_with_status_two(capsys, tmp_path, content, argv, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, "sensitivity", str(path), *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_read_vignettes_needs_a_cases_list(tmp_path: Path):
    from model.errors import UsageError

    assert [c["id"] for c in read_vignettes(CASES)][:2] == ["P01", "P02"]
    path = tmp_path / "v.json"
    path.write_text("[]")
    with pytest.raises(UsageError, match="'cases' list"):
        read_vignettes(path)
