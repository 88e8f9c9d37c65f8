"""The priors validator: break one thing in a copy of the real priors, check the message.

Each test copies ``priors/`` to ``tmp_path``, edits the YAML text, calls ``load_priors`` and
checks that ``PriorsError.problems`` names the right file, line, dotted key path and reason.
The expected line is found in the edited file (never hard-coded), so edits to the real priors
do not break these tests as long as the anchors they search for still exist.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

from model.errors import PriorsError
from model.knowledge.priors import load_priors
from model.knowledge.schema import Param, Provenance, Row

PRIORS = Path(__file__).resolve().parent.parent / "priors"
PROBLEM = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>\S+): (?P<message>.*)$")


# --- helpers ----------------------------------------------------------------------------------


def copy_priors(tmp_path: Path) -> Path:
    """A private copy of the real priors directory."""
    target = tmp_path / "priors"
    shutil.copytree(PRIORS, target)
    return target


def node(node_id: str) -> str:
    """An anchor for the start of a node's definition (not a mention of it in a list)."""
    return f"\n  {node_id}:\n"


def _find(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text.index(needle, start)


def edit(file: Path, old: str, new: str, after: str = "") -> None:
    """Replace the first ``old`` that follows the text ``after`` in ``file``."""
    text = file.read_text(encoding="utf-8")
    at = _find(text, old, after)
    file.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")


def line_of(file: Path, needle: str, after: str = "") -> int:
    """The 1-based line where ``needle`` first starts after the text ``after``."""
    text = file.read_text(encoding="utf-8")
    return text.count("\n", 0, _find(text, needle, after)) + 1


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(PriorsError) as info:
        load_priors(directory)
    return info.value.problems


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    path: str
    message: str


def parse(problem: str) -> Problem | None:
    match = PROBLEM.match(problem)
    if match is None:
        return None
    return Problem(
        Path(match["file"]).resolve(), int(match["line"]), match["path"], match["message"]
    )


def find_problem(problems: list[str], file: Path, path: str) -> Problem:
    """The problem at dotted key ``path`` in ``file``; fails listing all problems if none."""
    for problem in filter(None, map(parse, problems)):
        if problem.file == file.resolve() and problem.path == path:
            return problem
    listed = "\n".join(problems)
    raise AssertionError(f"no problem at {file.name}: {path}; the problems were:\n{listed}")


@dataclass(frozen=True)
class Break:
    """One edit of one priors file, and the problem it must cause."""

    name: str
    file: str
    old: str
    new: str
    path: str  # the dotted key path the problem must name
    reason: str  # text the message must contain
    after: str = ""  # edit the first ``old`` after this anchor
    mark: str = ""  # text on the line the problem must point at (default: ``new``)

    def apply(self, directory: Path) -> Path:
        edit(directory / self.file, self.old, self.new, self.after)
        return directory / self.file

    def expected_line(self, directory: Path) -> int:
        return line_of(directory / self.file, self.mark or self.new, self.after)


def params(breaks: list[Break]) -> list:
    return [pytest.param(b, id=b.name) for b in breaks]


LEFT_CALCIUM_LOW = 'low: {"yes": {p: 0.60'  # nodes.left_leg_cramps.cpd.links.calcium.low
MAGNESIUM_EXCESS_LINK = (
    '{p: 0.40, elicited: "by analogy with calcium (C28); the source says nothing'
)
MAGNESIUM_EXCESS_FULL = MAGNESIUM_EXCESS_LINK + ' of magnesium excess"'
LAST_SIDE_CASE = '        - {when: {left_leg_cramps: "no", right_leg_cramps: "no"}, state: none}\n'

# Problems reported on a key whose value sits on the same line, so the line is unambiguous.
BREAKS = [
    Break(
        "link_strength_above_one",
        "findings.yaml",
        LEFT_CALCIUM_LOW,
        'low: {"yes": {p: 1.3',
        "nodes.left_leg_cramps.cpd.links.calcium.low.yes.p",
        "1.3 is not a probability",
        after=node("left_leg_cramps"),
    ),
    Break(
        "link_strength_negative",
        "causes.yaml",
        '"yes": {low: {p: 0.15',
        '"yes": {low: {p: -0.5',
        "nodes.biotin.cpd.links.dialysis.yes.low.p",
        "-0.5 is not a probability",
        after=node("biotin"),
    ),
    Break(
        "row_does_not_sum_to_one",
        "context.yaml",
        '{"yes": 0.30, "no": 0.70}',
        '{"yes": 0.40, "no": 0.70}',
        "nodes.strenuous_exercise.cpd.rows.0.probs",
        "probabilities sum to 1.1, not 1",
        after=node("strenuous_exercise"),
    ),
    Break(
        "row_negative_probability",
        "context.yaml",
        '{"yes": 0.30, "no": 0.70}',
        '{"yes": -0.30, "no": 1.30}',
        "nodes.strenuous_exercise.cpd.rows.0.probs",
        "yes: -0.3 is not a probability",
        after=node("strenuous_exercise"),
    ),
    Break(
        "parent_is_not_a_node",
        "causes.yaml",
        "parents: [low_potassium_intake]",
        "parents: [low_potassium_intake, low_potasium_intake]",
        "nodes.potassium.parents.1",
        "parent 'low_potasium_intake' is not a node",
        after=node("potassium"),
    ),
    Break(
        "link_to_a_node_that_is_not_a_parent",
        "causes.yaml",
        "      links:\n",
        '      links:\n        calcium: {low: {low: {p: 0.2, elicited: "x", confidence: 3}}}\n',
        "nodes.potassium.cpd.links.calcium",
        "'calcium' is not a parent",
        after=node("potassium"),
        mark="calcium: {low:",
    ),
    Break(
        "link_to_an_unknown_id",
        "causes.yaml",
        "      links:\n",
        '      links:\n        calcuim: {low: {low: {p: 0.2, elicited: "x", confidence: 3}}}\n',
        "nodes.potassium.cpd.links.calcuim",
        "'calcuim' is not a parent",
        after=node("potassium"),
        mark="calcuim:",
    ),
    Break(
        "link_parent_state_unknown",
        "findings.yaml",
        LEFT_CALCIUM_LOW,
        'lowish: {"yes": {p: 0.60',
        "nodes.left_leg_cramps.cpd.links.calcium.lowish",
        "'lowish' is not a state of calcium (states: low, normal, high)",
        after=node("left_leg_cramps"),
    ),
    Break(
        "link_child_state_unknown",
        "findings.yaml",
        LEFT_CALCIUM_LOW,
        'low: {"maybe": {p: 0.60',
        "nodes.left_leg_cramps.cpd.links.calcium.low.maybe",
        "'maybe' is not a state of this node (states: yes, no)",
        after=node("left_leg_cramps"),
    ),
    Break(
        "link_towards_the_off_state",
        "findings.yaml",
        LEFT_CALCIUM_LOW,
        'low: {"no": {p: 0.60',
        "nodes.left_leg_cramps.cpd.links.calcium.low.no",
        "the off state 'no' cannot be pushed towards",
        after=node("left_leg_cramps"),
    ),
    Break(
        "param_without_provenance",
        "findings.yaml",
        'claims: [C30, C32], elicited: "the left side points to calcium needs", ',
        "",
        "nodes.left_leg_cramps.cpd.links.calcium.low.yes",
        "a number without provenance",
        after=node("left_leg_cramps"),
        mark="{p: 0.60, confidence: 6}",
    ),
    Break(
        "param_with_blank_elicited",
        "findings.yaml",
        MAGNESIUM_EXCESS_FULL,
        '{p: 0.40, elicited: "   "',
        "nodes.magnesium_trial.cpd.links.magnesium.high.worsened",
        "a number without provenance",
        after=node("magnesium_trial"),
    ),
    Break(
        "claim_not_in_claims_file",
        "findings.yaml",
        "claims: [C30, C32]",
        "claims: [C30, C99]",
        "nodes.left_leg_cramps.cpd.links.calcium.low.yes.claims.1",
        "claim C99 is not in",
        after=node("left_leg_cramps"),
    ),
    Break(
        "claim_id_malformed",
        "findings.yaml",
        "claims: [C30, C32]",
        "claims: [C30, X1]",
        "nodes.left_leg_cramps.cpd.links.calcium.low.yes.claims",
        "'X1' is not a claim id like C07",
        after=node("left_leg_cramps"),
    ),
    Break(
        "node_claim_not_in_claims_file",
        "causes.yaml",
        "claims: [C18]",
        "claims: [C99]",
        "nodes.iron.claims.0",
        "claim C99 is not in",
        after=node("iron"),
    ),
    Break(
        "deterministic_duplicated_row",
        "findings.yaml",
        LAST_SIDE_CASE,
        '        - {when: {left_leg_cramps: "no", right_leg_cramps: "yes"}, state: none}\n',
        "nodes.leg_cramp_side.cpd.cases.3.when",
        "repeats row 2",
        after=node("leg_cramp_side"),
    ),
    Break(
        "deterministic_state_unknown",
        "findings.yaml",
        LAST_SIDE_CASE,
        '        - {when: {left_leg_cramps: "no", right_leg_cramps: "no"}, state: nothing}\n',
        "nodes.leg_cramp_side.cpd.cases.3.state",
        "'nothing' is not a state (states: none, left, right, both)",
        after=node("leg_cramp_side"),
    ),
    Break(
        "duplicate_key",
        "context.yaml",
        '    label: "Strenuous exercise"\n',
        '    label: "Strenuous exercise"\n    label: "Hard exercise"\n',
        "nodes.strenuous_exercise.label",
        "duplicate key",
        after=node("strenuous_exercise"),
        mark='label: "Hard exercise"',
    ),
    Break(
        "unknown_key_typo",
        "context.yaml",
        "confidence: 10",
        "confidnce: 10",
        "nodes.tight_shoes.cpd.rows.0.confidnce",
        "unknown key (not part of the priors format)",
        after=node("tight_shoes"),
    ),
    Break(
        "confidence_missing",
        "findings.yaml",
        f"{MAGNESIUM_EXCESS_FULL}, confidence: 3",
        MAGNESIUM_EXCESS_FULL,
        "nodes.magnesium_trial.cpd.links.magnesium.high.worsened.confidence",
        "required key is missing",
        after=node("magnesium_trial"),
    ),
    Break(
        "confidence_zero",
        "context.yaml",
        "confidence: 10",
        "confidence: 0",
        "nodes.tight_shoes.cpd.rows.0.confidence",
        "greater than 0 (got 0)",
        after=node("tight_shoes"),
    ),
    Break(
        "confidence_negative",
        "findings.yaml",
        f"{MAGNESIUM_EXCESS_FULL}, confidence: 3",
        f"{MAGNESIUM_EXCESS_FULL}, confidence: -2",
        "nodes.magnesium_trial.cpd.links.magnesium.high.worsened.confidence",
        "greater than 0 (got -2)",
        after=node("magnesium_trial"),
    ),
    Break(
        "unknown_cpd_type_lists_valid_types",
        "findings.yaml",
        "type: deterministic",
        "type: determinstic",
        "nodes.leg_cramp_side.cpd.type",
        "type must be one of table, noisy_or, deterministic",
        after=node("leg_cramp_side"),
    ),
    Break(
        "red_flag_unknown_node",
        "red_flags.yaml",
        'evidence: {neurological_condition: ["yes"]}',
        'evidence: {neurological_conditon: ["yes"]}',
        "red_flags.neurological.when_any.0.evidence.neurological_conditon",
        "'neurological_conditon' is not a node",
    ),
    Break(
        "red_flag_unknown_state",
        "red_flags.yaml",
        'evidence: {neurological_condition: ["yes"]}',
        'evidence: {neurological_condition: ["maybe"]}',
        "red_flags.neurological.when_any.0.evidence.neurological_condition",
        "'maybe' is not a state of neurological_condition",
    ),
    Break(
        "red_flag_unknown_posterior_state",
        "red_flags.yaml",
        "posterior: {potassium: low}",
        "posterior: {potassium: lowish}",
        "red_flags.cardiovascular.when_any.0.posterior.potassium",
        "potassium=lowish is not a node state",
    ),
    Break(
        "red_flag_unknown_claim",
        "red_flags.yaml",
        "claims: [C01]",
        "claims: [C99]",
        "red_flags.neurological.claims",
        "claim C99 is not in",
    ),
]


@pytest.mark.parametrize("broken", params(BREAKS))
def test_one_broken_thing_is_reported_at_its_file_line_and_key(tmp_path, broken):
    directory = copy_priors(tmp_path)
    file = broken.apply(directory)
    problem = find_problem(problems_of(directory), file, broken.path)
    assert broken.reason in problem.message
    assert problem.line == broken.expected_line(directory)


# Problems on a key whose value is a block (it starts on the next line). The file, key path and
# reason are right; the line is the block's first line instead of the key's own line.
BLOCK_BREAKS = [
    Break(
        "deterministic_missing_row",
        "findings.yaml",
        LAST_SIDE_CASE,
        "",
        "nodes.leg_cramp_side.cpd.cases",
        "no row for left_leg_cramps=no, right_leg_cramps=no",
        after=node("leg_cramp_side"),
        mark="cases:",
    ),
    Break(
        "node_defined_in_two_files",
        "findings.yaml",
        node("burning_muscles"),
        node("iron"),
        "nodes.iron",
        "'iron' is already defined in causes.yaml",
        after=node("knee_grinding"),
        mark="  iron:",
    ),
    Break(
        "link_block_to_an_unknown_id",
        "causes.yaml",
        "        low_potassium_intake:\n",
        "        calcuim:\n",
        "nodes.potassium.cpd.links.calcuim",
        "'calcuim' is not a parent",
        after=node("potassium"),
    ),
    Break(
        "unknown_key_with_block_value",
        "causes.yaml",
        "      leak:\n",
        "      leek:\n",
        "nodes.biotin.cpd.leek",
        "unknown key (not part of the priors format)",
        after=node("biotin"),
    ),
]


@pytest.mark.parametrize("broken", params(BLOCK_BREAKS))
def test_block_valued_key_is_reported_with_file_key_and_reason(tmp_path, broken):
    directory = copy_priors(tmp_path)
    file = broken.apply(directory)
    problem = find_problem(problems_of(directory), file, broken.path)
    assert broken.reason in problem.message
    key_line = broken.expected_line(directory)
    assert problem.line == key_line


@pytest.mark.parametrize("broken", params(BLOCK_BREAKS))
def test_block_valued_key_is_reported_at_the_key_line(tmp_path, broken):
    directory = copy_priors(tmp_path)
    file = broken.apply(directory)
    problem = find_problem(problems_of(directory), file, broken.path)
    assert problem.line == broken.expected_line(directory)


def test_unknown_claim_message_names_the_claims_file(tmp_path):
    directory = copy_priors(tmp_path)
    edit(directory / "findings.yaml", "claims: [C30, C32]", "claims: [C30, C99]")
    (problem,) = problems_of(directory)
    assert "claims.yaml" in problem


def test_unknown_off_state_is_reported_at_off_state(tmp_path):
    directory = copy_priors(tmp_path)
    after = node("left_leg_cramps")
    edit(directory / "findings.yaml", 'off_state: "no"', 'off_state: "maybe"', after)
    file = directory / "findings.yaml"
    path = "nodes.left_leg_cramps.cpd.off_state"
    problem = find_problem(problems_of(directory), file, path)
    assert "'maybe' is not a state of this node" in problem.message
    assert problem.line == line_of(file, 'off_state: "maybe"', after)


# --- YAML pitfalls ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        pytest.param('states: ["yes", "no"]', "states: [yes, no]", "states", id="state"),
        pytest.param('{"yes": 0.30', "{yes: 0.30", "cpd.rows.0.probs", id="probs_key"),
    ],
)
def test_unquoted_yaml_boolean_state_gets_a_hint_to_quote_it(tmp_path, old, new, path):
    directory = copy_priors(tmp_path)
    after = node("strenuous_exercise")
    edit(directory / "context.yaml", old, new, after)
    problems = [parse(p) for p in problems_of(directory)]
    line = line_of(directory / "context.yaml", new, after)
    assert any(
        p is not None
        and p.line == line
        and p.path.startswith(f"nodes.strenuous_exercise.{path}")
        and "quote it" in p.message
        for p in problems
    ), problems


def test_unquoted_yaml_boolean_node_id_gets_a_hint_to_quote_it(tmp_path):
    directory = copy_priors(tmp_path)
    edit(directory / "findings.yaml", node("burning_muscles"), "\n  yes:\n")
    problem = find_problem(problems_of(directory), directory / "findings.yaml", "nodes")
    assert "node id True is a YAML boolean; quote it" in problem.message


def test_invalid_yaml_syntax_reports_file_and_line(tmp_path):
    directory = copy_priors(tmp_path)
    file = directory / "causes.yaml"
    edit(file, 'label: "Biotin status"', 'label: "Biotin status"x')
    line = line_of(file, 'label: "Biotin status"x')
    problems = problems_of(directory)
    assert any(p.startswith(f"{file}:{line}: not valid YAML: ") for p in problems), problems


@pytest.mark.parametrize("broken_file", ["syntax", "missing"])
def test_unreadable_node_file_is_reported_once(tmp_path, broken_file):
    directory = copy_priors(tmp_path)
    if broken_file == "syntax":
        edit(directory / "causes.yaml", 'label: "Biotin status"', 'label: "Biotin status"x')
    else:
        (directory / "causes.yaml").unlink()
    problems = problems_of(directory)
    assert [p for p in problems if "causes.yaml" in p] == problems
    assert len(problems) == 1, problems


# --- whole-directory problems -------------------------------------------------------------------


def test_directory_without_manifest(tmp_path):
    directory = copy_priors(tmp_path)
    (directory / "model.yaml").unlink()
    assert problems_of(directory) == [f"{directory}: no model.yaml here (not a priors directory)"]


def test_missing_directory(tmp_path):
    directory = tmp_path / "nowhere"
    assert problems_of(directory) == [f"{directory}: no model.yaml here (not a priors directory)"]


def test_node_file_named_in_manifest_but_absent(tmp_path):
    directory = copy_priors(tmp_path)
    edit(directory / "model.yaml", "findings.yaml]", "findings.yaml, extra.yaml]")
    problems = problems_of(directory)
    assert any(p.startswith(f"{directory / 'extra.yaml'}: cannot read") for p in problems)


def test_cycle_is_reported_and_names_its_nodes(tmp_path):
    directory = copy_priors(tmp_path)
    make_cycle(directory)
    (problem,) = problems_of(directory)  # the edit is otherwise valid: only the cycle is reported
    assert "the parents form a cycle: " in problem
    assert "strenuous_exercise" in problem
    assert "exercise_overload" in problem


def test_cycle_message_names_only_the_cycle(tmp_path):
    directory = copy_priors(tmp_path)
    make_cycle(directory)
    (problem,) = problems_of(directory)
    cycle = problem.split("cycle: ")[1].split(" -> ")[:-1]
    assert sorted(cycle) == ["exercise_overload", "strenuous_exercise"]
    parsed = parse(problem)
    assert parsed is not None
    assert parsed.file.name in ("context.yaml", "causes.yaml")


def make_cycle(directory: Path) -> None:
    """strenuous_exercise (context) gets exercise_overload (a cause of it) as its parent."""
    file, after = directory / "context.yaml", node("strenuous_exercise")
    edit(file, "    claims: [C03, C37]\n", "    parents: [exercise_overload]\n", after)
    edit(
        file,
        '        - probs: {"yes": 0.30, "no": 0.70}\n',
        "        - when: {exercise_overload: 'yes'}\n"
        '          probs: {"yes": 0.60, "no": 0.40}\n'
        '          elicited: "a loop made on purpose"\n'
        "          confidence: 5\n"
        "        - when: {exercise_overload: 'no'}\n"
        '          probs: {"yes": 0.30, "no": 0.70}\n',
        after,
    )


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param(
            [
                ("findings.yaml", LEFT_CALCIUM_LOW, 'low: {"yes": {p: 1.3'),
                ("context.yaml", '{"yes": 0.30, "no": 0.70}', '{"yes": 0.40, "no": 0.70}'),
                ("red_flags.yaml", "claims: [C01]", "claims: C01"),
            ],
            id="per_file_checks",
        ),
        pytest.param(
            [
                ("causes.yaml", "parents: [dialysis]", "parents: [dialysis, dialysys]"),
                ("findings.yaml", "claims: [C30, C32]", "claims: [C30, C99]"),
                ("red_flags.yaml", "{neurological_condition:", "{neurological_conditon:"),
            ],
            id="cross_file_checks",
        ),
    ],
)
def test_several_problems_are_all_reported(tmp_path, edits):
    directory = copy_priors(tmp_path)
    for name, old, new in edits:
        edit(directory / name, old, new)
    with pytest.raises(PriorsError) as info:
        load_priors(directory)
    problems = info.value.problems
    for name, _, new in edits:
        line = line_of(directory / name, new)
        assert any(p.startswith(f"{directory / name}:{line}: ") for p in problems), (name, problems)
    assert str(info.value).startswith(f"{len(problems)} problem(s) in the priors:")
    assert len(problems) >= 3


def test_file_is_shown_relative_under_the_cwd_and_absolute_elsewhere(tmp_path, monkeypatch):
    directory = copy_priors(tmp_path)
    edit(directory / "findings.yaml", LEFT_CALCIUM_LOW, 'low: {"yes": {p: 1.3')
    line = line_of(directory / "findings.yaml", 'low: {"yes": {p: 1.3')
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of(Path("priors"))
    assert problem.startswith(f"priors/findings.yaml:{line}: ")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (problem,) = problems_of(directory)
    assert problem.startswith(f"{directory / 'findings.yaml'}:{line}: ")


# --- the real priors ----------------------------------------------------------------------------


def test_real_priors_load_cleanly():
    priors = load_priors(PRIORS)
    assert priors.nodes
    assert set(priors.files.values()) == set(priors.meta.node_files)
    seen: set[str] = set()
    for node_id, spec in priors.nodes.items():  # topological order: parents come first
        assert set(spec.parents) <= seen, node_id
        seen.add(node_id)


def walk(value: object, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """Every pydantic object reachable from ``value``, with its key path."""
    if isinstance(value, BaseModel):
        yield path, value
        for name in type(value).model_fields:
            yield from walk(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))


def test_every_number_in_the_real_priors_has_provenance():
    priors = load_priors(PRIORS)
    numbers = 0
    for node_id, spec in priors.nodes.items():
        found = [(path, obj) for path, obj in walk(spec.cpd) if isinstance(obj, Provenance)]
        assert found, f"{node_id}: its cpd carries no provenance at all"
        for path, obj in found:
            where = ".".join(map(str, ("nodes", node_id, "cpd", *path)))
            assert obj.claims or (obj.elicited or "").strip(), f"{where}: no provenance"
            assert obj.confidence > 0, where
            assert set(obj.claims) <= set(priors.claims), where
            numbers += isinstance(obj, Param | Row)
    assert numbers > len(priors.nodes)


# --- identity -----------------------------------------------------------------------------------

ONE_BYTE = {
    "model.yaml": ("# The manifest", "# the manifest"),
    "context.yaml": ("# Context:", "# context:"),
    "causes.yaml": ("# Causes:", "# causes:"),
    "findings.yaml": ("# Findings:", "# findings:"),
    "claims.yaml": ("source: One", "source: one"),
    "red_flags.yaml": ("# Red flags:", "# red flags:"),
}


def test_sha256_is_stable():
    assert load_priors(PRIORS).sha256 == load_priors(PRIORS).sha256


def test_sha256_does_not_depend_on_the_directory_or_unlisted_files(tmp_path):
    directory = copy_priors(tmp_path)
    (directory / "notes.txt").write_text("not part of the model\n", encoding="utf-8")
    assert load_priors(directory).sha256 == load_priors(PRIORS).sha256


@pytest.mark.parametrize("name", sorted(ONE_BYTE))
def test_sha256_changes_when_one_byte_changes(tmp_path, name):
    directory = copy_priors(tmp_path)
    before = (directory / name).read_bytes()
    edit(directory / name, *ONE_BYTE[name])
    after = (directory / name).read_bytes()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert load_priors(directory).sha256 != load_priors(PRIORS).sha256
