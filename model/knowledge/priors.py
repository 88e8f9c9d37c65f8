"""Load and validate the priors directory: the model's knowledge as data.

``load_priors(directory)`` reads ``model.yaml`` (the manifest), the node files, the claims and
the red flags, checks each file against :mod:`model.knowledge.schema` and then everything that spans
files. Every problem is reported at once, as ``file:line: key.path: message``, and nothing
is used until all of them are fixed.
"""

from __future__ import annotations

import graphlib
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from model.errors import PriorsError, shorten
from model.knowledge.schema import (
    Caution,
    Claim,
    ClaimsFile,
    Condition,
    DeterministicCPD,
    ModelFile,
    Node,
    NodesFile,
    NoisyOrCPD,
    RedFlag,
    RedFlagsFile,
    TableCPD,
)

MANIFEST = "model.yaml"
_UNREADABLE = object()
CPD_TYPES = ("table", "noisy_or", "deterministic")
QUESTION_GROUPS = {
    "about_you": "About you and your habits",
    "where_when": "Where and when it cramps",
    "tried": "What you tried",
    "": "Other",
}


def default_priors_dir() -> Path:
    """The built-in priors: packaged beside the code in a wheel, or the repo's ``priors/``."""
    package = Path(__file__).resolve().parent.parent  # model/
    packaged = package / "_priors"
    return packaged if packaged.is_dir() else package.parent / "priors"


@dataclass(frozen=True)
class Priors:
    """The validated knowledge: nodes in the order declared, claims, red flags, identity."""

    directory: Path
    meta: ModelFile
    nodes: dict[str, Node]
    files: dict[str, str]
    claims: dict[str, Claim]
    claims_source: str
    red_flags: dict[str, RedFlag]
    cautions: dict[str, Caution]
    sha256: str
    lines: dict[str, dict[tuple, int]] = field(repr=False, compare=False)

    @property
    def states(self) -> dict[str, list[str]]:
        """Each node's states, in file order: the vocabulary evidence is checked against."""
        return {n: spec.states for n, spec in self.nodes.items()}

    def ids(self, kind: str | None = None) -> list[str]:
        """Node ids (of one kind, if given) in the order the priors declare them."""
        return [k for k, n in self.nodes.items() if kind is None or n.kind == kind]

    def abnormal_states(self, causes: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Every (cause, state) other than the cause's normal state, for ``causes`` (all
        causes by default), in priors order."""
        return [
            (c, s)
            for c in (self.ids("cause") if causes is None else causes)
            for s in self.nodes[c].states
            if s != self.nodes[c].normal_state
        ]

    def questions(self) -> dict[str, list[str]]:
        """Answerable nodes (context and findings) by their ``group``, in priors order."""
        groups: dict[str, list[str]] = {title: [] for title in QUESTION_GROUPS.values()}
        for node_id, node in self.nodes.items():
            if node.kind in ("context", "finding"):
                groups[QUESTION_GROUPS.get(node.group or "", "Other")].append(node_id)
        return {title: ids for title, ids in groups.items() if ids}

    def where(self, node_id: str, *path: object) -> str:
        """``file:line`` of a node's key path, for messages that point into the priors."""
        name = self.files[node_id]
        return _where(self.directory / name, self.lines[name], ("nodes", node_id, *path))


# --- reading YAML with line numbers -----------------------------------------------------------


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def _scalar_key(node: yaml.Node) -> object:
    if node.tag.endswith(":bool"):
        return node.value.lower() in ("yes", "true", "on", "y")
    if node.tag.endswith(":int"):
        return int(node.value)
    return node.value


def _line_map(root: yaml.Node | None, problems: list[str], shown: str) -> dict[tuple, int]:
    """Map every key path of a composed YAML tree to its 1-based line; flag duplicate keys."""
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple, line: int | None = None) -> None:
        lines[path] = line or node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, value_node in node.value:
                key = _scalar_key(key_node)
                if key in seen:
                    dotted = ".".join(map(str, (*path, key)))
                    problems.append(
                        f"{shown}:{key_node.start_mark.line + 1}: {dotted}: duplicate key "
                        "(YAML would keep only the last one)"
                    )
                seen.add(key)
                walk(value_node, (*path, key), key_node.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    if root is not None:
        walk(root, ())
    return lines


def _where(file: Path, lines: dict[tuple, int], path: tuple) -> str:
    probe = tuple(path)
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe, 1)
    dotted = ".".join(("yes" if p else "no") if isinstance(p, bool) else str(p) for p in path)
    return f"{_display(file)}:{line}: {dotted}" if dotted else f"{_display(file)}:{line}"


# PyYAML's safe loader, in C where libyaml is present (four times faster on the priors)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_VALUES = 1_000_000  # values a priors file may expand to, aliases followed (ours: ~10k)


def _expanded_size(root: yaml.Node | None) -> int | None:
    """How many values the document holds once every alias is followed, without following
    them: each node's size is counted once. None when a node contains itself."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)] if root is not None else []
    open_nodes: set[int] = set()  # on the path from the root to the node being walked
    while stack:
        node, done = stack.pop()
        if done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            continue
        if id(node) in sizes:  # reached again through an alias: counted once
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes.get(id(root), 0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _read_yaml(file: Path, problems: list[str]) -> tuple[Any, dict[tuple, int]]:
    shown = _display(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{shown}: not UTF-8 text (byte {exc.start} cannot be decoded)")
        return _UNREADABLE, {}
    except OSError as exc:
        problems.append(f"{shown}: cannot read: {exc.strerror or exc}")
        return _UNREADABLE, {}
    try:
        root = yaml.compose(text, Loader=_SAFE_LOADER)
        # Aliases (*name) are fine, but not an alias bomb (a few lines that expand to millions
        # of values and hang the loader) nor an alias inside itself (endless recursion).
        size = _expanded_size(root)
        if size is None or size > MAX_VALUES:
            what = "an alias refers to itself" if size is None else "aliases expand too far"
            problems.append(f"{shown}: {what}; write the values out")
            return _UNREADABLE, {}
        data = yaml.load(text, Loader=_SAFE_LOADER)  # the safe loader: plain data only
        return data, _line_map(root, problems, shown)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problems.append(f"{shown}{line}: not valid YAML: {getattr(exc, 'problem', exc)}")
        return _UNREADABLE, {}
    except RecursionError:
        problems.append(f"{shown}: nested too deeply to be a priors file")
        return _UNREADABLE, {}


def _clean_message(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(error.get("input"), bool) or error["msg"] == "Keys should be strings":
        return 'a YAML boolean where text is expected; quote it (write "yes" in quotes)'
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "extra_forbidden":
        return "unknown key (not part of the priors format)"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return f"type must be one of {', '.join(CPD_TYPES)}"
    if error["type"].endswith(("_type", "_parsing")) or error["type"].startswith("greater"):
        return f"{message} (got {error.get('input')!r})"
    return message


def _validate(model: type[BaseModel], data: Any, file: Path, lines, problems: list[str]):
    if data is _UNREADABLE:  # already reported; validating it as {} would only add noise
        return None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            if loc and loc[-1] == "[key]":  # pydantic reports a bad dict key as its index
                loc = (*loc[:-2], error["input"])
            path = tuple(p for i, p in enumerate(loc) if not _is_tag(loc, i))
            if error["type"].startswith("union_tag"):
                path = (*path, "type")
            problems.append(f"{_where(file, lines, path)}: {_clean_message(error)}")
        return None


def _is_tag(loc: tuple, index: int) -> bool:
    """Pydantic puts the discriminator value into error paths (``cpd.noisy_or.leak``); drop it."""
    return index > 0 and loc[index - 1] == "cpd" and loc[index] in CPD_TYPES


# --- the cross-file checks --------------------------------------------------------------------


def _check_assignment(
    where, assignment: dict[str, str], nodes: dict[str, Node], allowed: list[str], what: str
) -> list[str]:
    problems = []
    for parent, state in assignment.items():
        if parent not in allowed:
            problems.append(f"{where(parent)}: {parent!r} is not a {what} of this node")
        elif state not in nodes[parent].states:
            problems.append(
                f"{where(parent)}: {state!r} is not a state of {parent} "
                f"(states: {', '.join(nodes[parent].states)})"
            )
    return problems


def _check_child_states(where, keys, node: Node, off: str | None = None) -> list[str]:
    problems = []
    for state in keys:
        if state not in node.states:
            problems.append(
                f"{where(state)}: {state!r} is not a state of this node "
                f"(states: {', '.join(node.states)})"
            )
        elif state == off:
            problems.append(f"{where(state)}: the off state {off!r} cannot be pushed towards")
    return problems


def _check_rows(node_id: str, node: Node, nodes: dict[str, Node], at) -> list[str]:
    """A table or deterministic CPD must give each parent configuration exactly once."""
    cpd = node.cpd
    entries = cpd.rows if isinstance(cpd, TableCPD) else cpd.cases
    key = "rows" if isinstance(cpd, TableCPD) else "cases"
    problems: list[str] = []
    seen: dict[tuple, int] = {}
    for i, entry in enumerate(entries):
        if set(entry.when) != set(node.parents):
            problems.append(
                f"{at('cpd', key, i, 'when')}: names {sorted(entry.when)}, "
                f"but the parents are {node.parents}"
            )
            continue
        bad = _check_assignment(
            lambda p, i=i: at("cpd", key, i, "when", p), entry.when, nodes, node.parents, "parent"
        )
        problems += bad
        if bad:
            continue
        config = tuple(entry.when[p] for p in node.parents)
        if config in seen:
            problems.append(f"{at('cpd', key, i, 'when')}: repeats row {seen[config]}")
        seen[config] = i
        if isinstance(cpd, TableCPD) and set(entry.probs) != set(node.states):
            problems.append(
                f"{at('cpd', key, i, 'probs')}: gives {sorted(entry.probs)}, "
                f"the states are {node.states}"
            )
        if isinstance(cpd, DeterministicCPD) and entry.state not in node.states:
            problems.append(
                f"{at('cpd', key, i, 'state')}: {entry.state!r} is not a state "
                f"(states: {', '.join(node.states)})"
            )
    if not problems:
        for config in itertools.product(*(nodes[p].states for p in node.parents)):
            if config not in seen:
                shown = ", ".join(f"{p}={s}" for p, s in zip(node.parents, config, strict=True))
                problems.append(f"{at('cpd', key)}: no row for {shown}")
    return problems


def _check_noisy_or(node: Node, nodes: dict[str, Node], at) -> list[str]:
    cpd = node.cpd
    problems = []
    if cpd.off_state not in node.states:
        problems.append(f"{at('cpd', 'off_state')}: {cpd.off_state!r} is not a state of this node")
    problems += _check_child_states(lambda s: at("cpd", "leak", s), cpd.leak, node, cpd.off_state)
    for parent, by_state in cpd.links.items():
        if parent not in node.parents:
            problems.append(f"{at('cpd', 'links', parent)}: {parent!r} is not a parent")
            continue
        for pstate, towards in by_state.items():
            if pstate not in nodes[parent].states:
                problems.append(
                    f"{at('cpd', 'links', parent, pstate)}: {pstate!r} is not a state of "
                    f"{parent} (states: {', '.join(nodes[parent].states)})"
                )
            problems += _check_child_states(
                lambda s, p=parent, ps=pstate: at("cpd", "links", p, ps, s),
                towards,
                node,
                cpd.off_state,
            )
    for i, inter in enumerate(cpd.interactions):
        problems += _check_assignment(
            lambda p, i=i: at("cpd", "interactions", i, "when", p),
            inter.when,
            nodes,
            node.parents,
            "parent",
        )
        problems += _check_child_states(
            lambda s, i=i: at("cpd", "interactions", i, "towards", s),
            inter.towards,
            node,
            cpd.off_state,
        )
    used = set(cpd.links) | {p for inter in cpd.interactions for p in inter.when}
    for parent in node.parents:
        if parent not in used:
            problems.append(f"{at('parents')}: parent {parent!r} has no link or interaction")
    if cpd.uninformative is not None:
        u = cpd.uninformative
        pushed = set(cpd.leak) | {s for t in cpd.links.values() for d in t.values() for s in d}
        if u.state not in node.states:
            problems.append(f"{at('cpd', 'uninformative', 'state')}: {u.state!r} is not a state")
        elif u.state == cpd.off_state or u.state in pushed:
            problems.append(
                f"{at('cpd', 'uninformative', 'state')}: {u.state!r} is also pushed or off; "
                "an uninformative state must stand apart"
            )
    return problems


def claim_references(priors_nodes: dict[str, Node]) -> list[tuple[str, tuple, str]]:
    """Every (node id, key path, claim id) cited anywhere in the nodes."""
    refs = []

    def visit(node_id: str, path: tuple, value: object) -> None:
        if isinstance(value, BaseModel):
            for name in type(value).model_fields:
                visit(node_id, (*path, name), getattr(value, name))
        elif isinstance(value, dict):
            for k, v in value.items():
                visit(node_id, (*path, k), v)
        elif isinstance(value, list):
            if path and path[-1] == "claims":
                refs.extend((node_id, (*path, i), c) for i, c in enumerate(value))
            else:
                for i, v in enumerate(value):
                    visit(node_id, (*path, i), v)

    for node_id, node in priors_nodes.items():
        visit(node_id, (), node)
    return refs


def _one_cycle(nodes: dict[str, Node]) -> list[str] | None:
    """One directed cycle of the parent links (each node a parent of the next), or None."""
    try:
        graphlib.TopologicalSorter({n: spec.parents for n, spec in nodes.items()}).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1][:-1])  # graphlib repeats the first node at the end
    return None


@dataclass(frozen=True)
class _Sources:
    """Where the nodes and the red flags were read: the file and line each problem points at."""

    directory: Path
    files: dict[str, str]
    lines: dict[str, dict[tuple, int]]
    flag_file: Path
    flag_lines: dict[tuple, int]

    def at_node(self, node_id: str) -> Callable[..., str]:
        """``at(*path)``: the ``file:line: key.path`` of a key path inside one node."""
        return lambda *path: _where(
            self.directory / self.files[node_id],
            self.lines[self.files[node_id]],
            ("nodes", node_id, *path),
        )

    def at_flag(self, flag_id: str, section: str = "red_flags") -> Callable[..., str]:
        """``at(*path)``: the ``file:line: key.path`` of a key path inside one red flag (or,
        with ``section="cautions"``, one caution)."""
        return lambda *path: _where(self.flag_file, self.flag_lines, (section, flag_id, *path))


def _cross_checks(
    nodes: dict[str, Node],
    claims: dict[str, Claim],
    red_flags: dict[str, RedFlag],
    cautions: dict[str, Caution],
    sources: _Sources,
    *,
    claims_file: str,
) -> list[str]:
    """Every problem that spans files: parents and their states, claims, a cycle, red flags."""
    problems = _node_checks(nodes, sources)
    problems += [
        f"{sources.at_node(node_id)(*path)}: claim {claim} is not in {claims_file}"
        for node_id, path, claim in claim_references(nodes)
        if claim not in claims
    ]
    if not problems:  # cycles are looked for once every parent and claim is sound
        problems += _cycle_problems(nodes, sources)
    for flag_id, flag in red_flags.items():
        problems += _flag_checks(flag, nodes, claims, sources.at_flag(flag_id), claims_file)
    for caution_id, caution in cautions.items():
        at = sources.at_flag(caution_id, "cautions")
        problems += _flag_checks(caution, nodes, claims, at, claims_file)
        trial = nodes.get(caution.trial)
        if trial is None or trial.kind != "finding" or not trial.cost:
            problems.append(
                f"{at('trial')}: {caution.trial!r} is not a trial (a finding with a cost)"
            )
    return problems


def _node_checks(nodes: dict[str, Node], sources: _Sources) -> list[str]:
    """Each node's parents exist; then its table or noisy-or names only their states."""
    problems: list[str] = []
    for node_id, node in nodes.items():
        at = sources.at_node(node_id)
        for i, parent in enumerate(node.parents):
            if parent not in nodes:
                problems.append(f"{at('parents', i)}: parent {parent!r} is not a node")
        if any(p not in nodes for p in node.parents):
            continue
        if isinstance(node.cpd, NoisyOrCPD):
            problems += _check_noisy_or(node, nodes, at)
        else:
            problems += _check_rows(node_id, node, nodes, at)
    return problems


def _cycle_problems(nodes: dict[str, Node], sources: _Sources) -> list[str]:
    """One cycle of the parent links, if any, reported at its first node's parents."""
    cycle = _one_cycle(nodes)
    if not cycle:
        return []
    return [
        f"{sources.at_node(cycle[0])('parents')}: the parents form a cycle: "
        f"{' -> '.join([*cycle, cycle[0]])}"
    ]


def _flag_checks(
    flag: RedFlag,
    nodes: dict[str, Node],
    claims: dict[str, Claim],
    at: Callable[..., str],
    claims_file: str,
) -> list[str]:
    """A red flag cites known claims and each of its conditions names known nodes and states."""
    problems = [
        f"{at('claims')}: claim {claim} is not in {claims_file}"
        for claim in flag.claims
        if claim not in claims
    ]
    for i, cond in enumerate(flag.when_any):
        problems += _condition_checks(cond, nodes, lambda *p, i=i: at("when_any", i, *p))
    return problems


def _condition_checks(cond: Condition, nodes: dict[str, Node], at: Callable[..., str]) -> list[str]:
    """One red-flag condition names only nodes and their states (evidence, then posteriors)."""
    problems: list[str] = []
    for key in ("evidence", "evidence_any"):
        for var, states in getattr(cond, key).items():
            if var not in nodes:
                problems.append(f"{at(key, var)}: {var!r} is not a node")
            else:
                problems += [
                    f"{at(key, var)}: {s!r} is not a state of {var}"
                    for s in states
                    if s not in nodes[var].states
                ]
    for var, state in cond.posterior.items():
        if var not in nodes or state not in nodes[var].states:
            problems.append(f"{at('posterior', var)}: {var}={state} is not a node state")
    return problems


def _inside(directory: Path, name: str) -> bool:
    """True when ``directory / name`` (links resolved) lies inside ``directory``."""
    root = directory.resolve()
    return (root / name).resolve().is_relative_to(root)


def _read_file(
    schema: type[BaseModel], file: Path, problems: list[str]
) -> tuple[Any, dict[tuple, int]]:
    """A YAML file validated against ``schema`` (None if it is not) and its line map."""
    data, lines = _read_yaml(file, problems)
    return _validate(schema, data, file, lines, problems), lines


def _refuse_outside(directory: Path, names: list[str]) -> None:
    """Refuse a manifest naming files outside the folder: they are named, never read."""
    outside = [name for name in names if not _inside(directory, name)]
    if outside:  # a manifest must not reach other files of the machine
        raise PriorsError(
            [
                f"{_display(directory / MANIFEST)}: {shorten(name)} lies outside the priors "
                "folder; name files inside it"
                for name in outside
            ]
        )


def _digest(directory: Path, names: list[str]) -> str:
    """The set's identity: sha256 over each listed file's name and bytes (none if absent)."""
    digest = hashlib.sha256()
    for name in names:
        path = directory / name
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def _read_nodes(
    directory: Path, node_files: list[str], problems: list[str]
) -> tuple[dict[str, Node], dict[str, str], dict[str, dict[tuple, int]]]:
    """Every node of the node files in order, the file each is in, and each file's line map."""
    lines: dict[str, dict[tuple, int]] = {}
    nodes: dict[str, Node] = {}
    files: dict[str, str] = {}
    for name in node_files:
        parsed, lines[name] = _read_file(NodesFile, directory / name, problems)
        for node_id, node in (parsed.nodes if parsed else {}).items():
            if node_id in nodes:
                problems.append(
                    f"{_where(directory / name, lines[name], ('nodes', node_id))}: "
                    f"{node_id!r} is already defined in {files[node_id]}"
                )
                continue
            nodes[node_id], files[node_id] = node, name
    return nodes, files, lines


def load_priors(directory: str | os.PathLike | None = None) -> Priors:
    """Read and validate a priors directory; raise :class:`PriorsError` listing every problem."""
    directory = Path(directory) if directory is not None else default_priors_dir()
    problems: list[str] = []
    if not (directory / MANIFEST).is_file():
        raise PriorsError([f"{_display(directory)}: no {MANIFEST} here (not a priors directory)"])
    meta, _ = _read_file(ModelFile, directory / MANIFEST, problems)
    if meta is None:
        raise PriorsError(problems)
    names = [MANIFEST, *meta.node_files, meta.claims_file, meta.red_flags_file]
    _refuse_outside(directory, names)
    sha256 = _digest(directory, names)
    nodes, files, lines = _read_nodes(directory, meta.node_files, problems)
    claims_file, _ = _read_file(ClaimsFile, directory / meta.claims_file, problems)
    flags_file, flag_lines = _read_file(RedFlagsFile, directory / meta.red_flags_file, problems)
    if problems:
        raise PriorsError(problems)

    sources = _Sources(directory, files, lines, directory / meta.red_flags_file, flag_lines)
    problems += _cross_checks(
        nodes,
        claims_file.claims,
        flags_file.red_flags,
        flags_file.cautions,
        sources,
        claims_file=meta.claims_file,
    )
    if problems:
        raise PriorsError(problems)
    return Priors(
        directory=directory,
        meta=meta,
        nodes=nodes,
        files=files,
        claims=claims_file.claims,
        claims_source=claims_file.source,
        red_flags=flags_file.red_flags,
        cautions=flags_file.cautions,
        sha256=sha256,
        lines=lines,
    )
