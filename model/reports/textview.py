"""Plain-text views of crampnet results for the terminal: notice, red flags first, then numbers."""

from __future__ import annotations

import textwrap

from model.diagnosis.crampmodel import CrampModel, Diagnosis
from model.reports.wording import (
    conflict_sentence,
    features_word,
    if_fixed_sentence,
    per_hundred,
)

WIDTH = 88
BAR = 20
IF_FIXED_ROWS = 5  # cause states listed by what putting them right would stop


def _wrap(text: str, indent: str = "", hang: str | None = None) -> str:
    hang = indent + "  " if hang is None else hang
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=hang)


def _answer(value: object) -> str:
    if isinstance(value, dict):
        return "soft(" + ", ".join(f"{s}:{v:g}" for s, v in value.items()) + ")"
    return str(value)


def format_diagnosis(diagnosis: Diagnosis, model: CrampModel, *, rows: int = 14) -> str:
    """The ranked causes as a readable table, with red flags and the notice before them.

    ``first in`` is how many of every 100 drawn parameter sets rank the cause state first."""
    out = [_wrap("NOTICE: " + model.priors.meta.notice, hang=""), ""]
    if diagnosis.red_flags:
        out.append("RED FLAGS (read these first):")
        out += [_wrap(f"! {f.title}. {f.message}", "  ") for f in diagnosis.red_flags]
    else:
        out.append("Red flags: none raised by these answers.")
    answers = {**diagnosis.evidence, **diagnosis.soft_evidence}
    said = conflict_sentence(model.priors, answers, diagnosis.conflict)
    if said:
        out += ["", _wrap("CHECK: " + said, hang="  ")]
    out.append("")
    shown = ", ".join(f"{k}={_answer(v)}" for k, v in answers.items()) or "none (the priors)"
    out += [_wrap(f"Answers: {shown}")]
    if diagnosis.interventions:
        done = ", ".join(f"{k}={v}" for k, v in diagnosis.interventions.items())
        out.append(_wrap(f"If you made these changes (interventions, not observations): {done}"))
    out.append("")
    out.append(
        f"{'#':>2}  {'cause = state':<28} {'posterior':>9} {'prior':>7} {'x prior':>8} "
        f"{'first in':>8}  "
    )
    for i, row in enumerate(diagnosis.ranked()[:rows], start=1):
        bar = "#" * round(row["posterior"] * BAR)
        lift = f"{row['lift']:.2f}" if row["lift"] is not None else "-"
        name = f"{row['cause']} = {row['state']}"
        share = diagnosis.rank_first.get((row["cause"], row["state"]))
        first = "-" if share is None else f"{per_hundred(share)}/100"
        out.append(
            f"{i:>2}  {name:<28} {row['posterior']:>9.3f} {row['prior']:>7.3f} {lift:>8} "
            f"{first:>8}  {bar}"
        )
    if diagnosis.rank_first:
        out.append(
            _wrap(
                "first in: in how many of 100 plausible versions of the model (its numbers "
                "redrawn within their stated uncertainty) the cause state ranks first.",
                hang="",
            )
        )
    out += _if_fixed_lines(diagnosis, model)
    top = list(diagnosis.explanation.items())[:3]
    if answers and top:
        out += ["", "Why (how much each answer moved the top causes):"]
        for (cause, state), info in top:
            moves = [c for c in info.contributions if abs(c.delta) >= 0.005][:4]
            said = "; ".join(f"{c.variable}={_answer(c.answer)} {c.delta:+.3f}" for c in moves)
            out.append(
                _wrap(f"- {cause}={state} {info.posterior:.3f}: {said or 'no answer moved it'}")
            )
    out += [
        "",
        f"Model {model.priors.meta.name} {diagnosis.model['version']}, "
        f"priors sha256 {diagnosis.model['sha256'][:16]}...",
    ]
    return "\n".join(line.rstrip() for line in out)


def _if_fixed_lines(diagnosis: Diagnosis, model: CrampModel) -> list[str]:
    """The second ranking: what putting each cause state right alone would stop."""
    measures = diagnosis.if_fixed
    present = next(iter(measures.values())).features if measures else 0.0
    if present <= 0:
        return []
    out = [
        "",
        _wrap(
            f"If put right alone (a counterfactual: of your {features_word(present)}, how many "
            "would be expected to stop had only this cause been normal):",
            hang="",
        ),
        f"{'#':>2}  {'cause = state':<28} {'stop':>6} {'all stop':>9} {'alone':>6}",
    ]
    ranked = [cs for cs in diagnosis.ranked_if_fixed() if measures[cs].expected_disablement]
    for i, (cause, state) in enumerate(ranked[:IF_FIXED_ROWS], start=1):
        m = measures[(cause, state)]
        out.append(
            f"{i:>2}  {cause + ' = ' + state:<28} {m.expected_disablement:>6.2f} "
            f"{per_hundred(m.p_all_stop):>5}/100 {m.expected_sufficiency:>6.2f}"
        )
    if ranked:
        out.append(_wrap(if_fixed_sentence(model.priors, *ranked[0], measures[ranked[0]]), hang=""))
        out.append(
            _wrap(
                "stop: expected number of your features that would stop; all stop: the chance "
                "that every one would; alone: how many would remain were this the only cause.",
                hang="",
            )
        )
    return out


def format_schema(model: CrampModel) -> str:
    """Every node with its kind, states and question, grouped by kind."""
    out = []
    for kind in ("context", "cause", "intermediate", "finding"):
        out.append(f"[{kind}]")
        for node_id in model.priors.ids(kind):
            node = model.priors.nodes[node_id]
            out.append(f"  {node_id}: {' | '.join(node.states)}")
            out.append(_wrap(node.question, "      "))
    return "\n".join(line.rstrip() for line in out)
