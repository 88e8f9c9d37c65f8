"""crampnet what-if explorer: answers in, ranked causes with uncertainty, why, what to ask next.

A thin page over ``model`` (``model.explorer`` computes every number shown here; this file
only lays them out). Answers live in the URL so a scenario can be bookmarked and shared.
Run with ``make run`` (binds to 127.0.0.1).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from functools import partial

import pandas as pd
import streamlit as st

from model import CrampnetError, default_model, diagnose
from model.charts import causes_chart, signed_bars
from model.explorer import (
    case_json,
    cause_rows,
    compare,
    network_dot,
    node_claims,
    node_table,
    view,
    why,
)
from model.report import build_report
from model.report_render import MIME, render
from model.scenario import B_PREFIX, Scenario, from_query, to_query

NOT_ANSWERED = "not answered"
PROBABLY = "probably "

st.set_page_config(page_title="crampnet: cramp causes explorer", layout="wide")


@st.cache_resource
def get_model():
    return default_model()


@st.cache_resource(max_entries=64)
def cached_view(_model, answers: tuple, probably: tuple, do: tuple, cost_weight: float):
    """One view per scenario, shared read-only: reruns that change no answer reuse it."""
    return view(_model, Scenario(dict(answers), dict(probably), dict(do)), cost_weight=cost_weight)


@st.cache_data(max_entries=16, show_spinner=False)
def report_file(case: str, fmt: str, day: str) -> bytes:
    """The report of a case (JSON text) as ``crampnet report`` writes it; built on click."""
    answers = json.loads(case)
    report = build_report(
        get_model(), answers["evidence"], answers.get("soft_evidence"), answers.get("do"), date=day
    )
    return render(report, fmt)


def options(node) -> list[str]:
    return [NOT_ANSWERED, *node.states, *(PROBABLY + s for s in node.states)]


def read_choice(scenario: Scenario, node_id: str, choice: str, how: str = "sure") -> Scenario:
    if choice == NOT_ANSWERED:
        return scenario.with_answer(node_id, None)
    if choice.startswith(PROBABLY):
        return scenario.with_answer(node_id, choice[len(PROBABLY) :], how="probably")
    return scenario.with_answer(node_id, choice, how=how)


def shown_choice(scenario: Scenario, node_id: str) -> str:
    if node_id in scenario.evidence:
        return scenario.evidence[node_id]
    if node_id in scenario.probably:
        return PROBABLY + scenario.probably[node_id]
    return NOT_ANSWERED


def answer_text(value: object) -> str:
    """A sure answer as its state; a soft one as 'probably <most likely state>'."""
    if isinstance(value, str):
        return value
    return PROBABLY + max(value, key=value.get)


def answer(node_id: str, state: str) -> None:
    """Callback of an 'ask next' button: answer the question in scenario A."""
    st.session_state[f"q_{node_id}"] = state


def reset_b() -> None:
    """Callback: scenario B back to a plain copy of A."""
    for key in list(st.session_state):
        if key.startswith(("b_", "do_")):
            del st.session_state[key]
    st.session_state["b_changed"] = []


def reset() -> None:
    for key in list(st.session_state):
        if key.startswith(("q_", "b_", "do_")):
            del st.session_state[key]
    st.query_params.clear()


started = time.perf_counter()
model = get_model()
priors = model.priors

# --- scenario A from the URL and the sidebar ----------------------------------------------
url_a, url_problems = from_query(priors, st.query_params.to_dict())
url_b, problems_b = from_query(priors, st.query_params.to_dict(), B_PREFIX)
for node_id in priors.nodes:
    st.session_state.setdefault(f"q_{node_id}", shown_choice(url_a, node_id))

scenario_a = Scenario()
with st.sidebar:
    st.header("Your answers")
    st.caption("Leave a question 'not answered' if you do not know; 'probably' is a softer answer.")
    st.button("Reset all answers", on_click=reset, width="stretch")
    for title, node_ids in priors.questions().items():
        with st.expander(title, expanded=title.startswith("Where")):
            for node_id in node_ids:
                node = priors.nodes[node_id]
                help_text = node.question + (f"\n\n{node.help}" if node.help else "")
                choice = st.selectbox(node.label, options(node), key=f"q_{node_id}", help=help_text)
                scenario_a = read_choice(scenario_a, node_id, choice)

# --- the notice and red flags come before any number ---------------------------------------
st.title("crampnet: what might be behind your cramps?")
st.warning(priors.meta.notice, icon=":material/warning:")
for problem in url_problems + problems_b:
    st.info(f"From the link: {problem}")
asked = {n for ids in priors.questions().values() for n in ids}
for node_id, state in {**url_a.evidence, **url_a.probably}.items():
    if node_id not in asked:
        st.info(f"From the link: ignored {node_id}={state}: not a question of this page")
for node_id, state in url_a.do.items():
    st.info(
        f"From the link: ignored do.{node_id}={state}: interventions belong to scenario B "
        "(What-if tab)"
    )

cost_weight = st.session_state.get("cost_weight", 0.0)
try:
    shown = cached_view(
        model,
        tuple(sorted(scenario_a.evidence.items())),
        tuple(sorted(scenario_a.probably.items())),
        tuple(sorted(scenario_a.do.items())),
        cost_weight,
    )
except CrampnetError as exc:
    st.error(f"These answers cannot be scored together: {exc}")
    st.caption("Change one of the answers named above; the other answers are kept.")
    st.stop()

st.subheader("Red flags")
if shown.diagnosis.red_flags:
    for flag in shown.diagnosis.red_flags:
        st.error(f"**{flag['id']}**: {flag['message']}", icon=":material/flag:")
else:
    st.success("No red flag raised by these answers. That is not a clean bill of health.")

st.query_params.from_dict({**to_query(scenario_a), **to_query(url_b, B_PREFIX)})

causes_tab, why_tab, next_tab, whatif_tab, network_tab, download_tab = st.tabs(
    ["Causes", "Why", "Ask next", "What-if", "Network", "Download"]
)

# --- ranked causes -------------------------------------------------------------------------
with causes_tab:
    table = cause_rows(model, shown)
    st.caption(
        "Bars: posterior probability of each cause state; whiskers: 90% interval from the "
        "uncertainty of the elicited numbers; black tick: the prior, before any answer."
    )
    st.vega_lite_chart(causes_chart(table), width="stretch")
    for row in table.head(3).itertuples():
        st.metric(
            row.cause,
            f"{row.posterior:.3f}",
            f"{row.change:+.3f} from prior",
            delta_color="off",
            help=f"90% interval {row.low:.3f} to {row.high:.3f}; prior {row.prior:.3f}",
        )
    st.dataframe(
        table[["cause", "posterior", "low", "high", "prior", "change"]],
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[2:]},
    )

# --- why -----------------------------------------------------------------------------------
with why_tab:
    ids = list(table["id"])
    chosen = st.selectbox("Explain which cause?", ids, key="why_cause")
    cause, state = chosen.split("=")
    reason = why(model, shown, cause, state)
    st.metric(
        f"{priors.nodes[cause].label}: {state}",
        f"{reason['posterior']:.3f}",
        f"{reason['posterior'] - reason['prior']:+.3f} from prior {reason['prior']:.3f}",
        delta_color="off",
    )
    if reason["contributions"]:
        moves = pd.DataFrame(
            [
                {
                    "answer": f"{c['variable']} = {answer_text(c['answer'])}",
                    "change": c["delta"],
                    "without this answer": c["without"],
                }
                for c in reason["contributions"]
            ]
        )
        moves = moves.sort_values("change", key=abs, ascending=False, ignore_index=True)
        chart = signed_bars(moves, "change", "answer", "change in probability made by the answer")
        st.vega_lite_chart(chart, width="stretch")
        st.dataframe(moves, hide_index=True, width="stretch")
    else:
        st.info("No answers yet: this is the prior.")
    st.markdown(
        "**What the source claims on the links involved** (paraphrased; one page's opinion)"
    )
    for claim in reason["claims"]:
        st.markdown(
            f"- **{claim['id']}** ({claim['section']}): {claim['text']}  \n"
            f"  _links: {', '.join(claim['links'])}_"
        )
    if not reason["claims"]:
        st.caption("No answer is linked to this cause yet.")

# --- ask next ------------------------------------------------------------------------------
with next_tab:
    st.slider(
        "Weigh information against effort (bits given up per day a trial takes)",
        0.0,
        0.2,
        key="cost_weight",
        step=0.01,
        help="0: rank by information alone. Higher: prefer quick questions to trials of days.",
    )
    ranked = pd.DataFrame(
        shown.questions,
        columns=[
            "variable",
            "label",
            "info_gain",
            "max_change",
            "max_change_detail",
            "cost",
            "score",
        ],
    )
    if ranked.empty:
        st.info("Every question is answered: nothing left to ask.")
    top = ranked.head(8)
    for row in top.itertuples():
        detail = row.max_change_detail or {}
        cols = st.columns([3, 1, 1, 4])
        cols[0].markdown(f"**{row.label}**  \n{priors.nodes[row.variable].question}")
        cols[1].metric("information", f"{row.info_gain:.3f} bits")
        cols[2].metric("largest change", f"{row.max_change:.3f}")
        with cols[3]:
            if detail:
                st.caption(
                    f"answer '{detail['answer']}' would move {detail['cause']}={detail['state']} "
                    f"from {detail['before']:.2f} to {detail['after']:.2f}"
                    + (f"; takes about {row.cost:g} days" if row.cost else "")
                )
            buttons = st.columns(len(priors.nodes[row.variable].states))
            for b, s in zip(buttons, priors.nodes[row.variable].states, strict=True):
                b.button(s, key=f"ask_{row.variable}_{s}", on_click=answer, args=(row.variable, s))
    st.dataframe(
        ranked[["label", "info_gain", "max_change", "cost", "score"]],
        hide_index=True,
        width="stretch",
    )

# --- what-if -------------------------------------------------------------------------------
with whatif_tab:
    st.markdown(
        "Scenario **B** is a copy of your answers (A) with the changes you pick below. For a "
        "habit you could change, choose **if you started** (an intervention): then the model "
        "does not infer what led to it, as it would if you had only observed it."
    )
    st.button("Reset B to a plain copy of A", on_click=reset_b)
    overrides = Scenario()  # what B changes, kept in the URL with the prefix b.
    changed = st.multiselect(
        "Questions to change in B",
        [n for ids in priors.questions().values() for n in ids] + model.causes,
        default=[n for n in url_b.answered()],
        format_func=lambda n: priors.nodes[n].label,
        key="b_changed",
    )
    for node_id in changed:
        node = priors.nodes[node_id]
        cols = st.columns([3, 2])
        start = url_b.do.get(node_id) or shown_choice(url_b, node_id)
        if start == NOT_ANSWERED:
            start = shown_choice(scenario_a, node_id)
        st.session_state.setdefault(f"b_{node_id}", start)
        st.session_state.setdefault(f"do_{node_id}", node_id in url_b.do)
        choice = cols[0].selectbox(node.label, options(node), key=f"b_{node_id}")
        intervene = cols[1].toggle("if you started / set (intervention)", key=f"do_{node_id}")
        overrides = read_choice(overrides, node_id, choice, how="do" if intervene else "sure")
    scenario_b = scenario_a
    for node_id in changed:
        how = (
            "do"
            if node_id in overrides.do
            else "probably"
            if node_id in overrides.probably
            else "sure"
        )
        state = {**overrides.evidence, **overrides.probably, **overrides.do}.get(node_id)
        scenario_b = scenario_b.with_answer(node_id, state, how=how)
    st.query_params.from_dict({**to_query(scenario_a), **to_query(overrides, B_PREFIX)})
    try:
        shown_b = diagnose(
            scenario_b.evidence, scenario_b.soft_evidence(priors), do=scenario_b.do, model=model
        )
        deltas = compare(model, shown.diagnosis, shown_b)
        st.vega_lite_chart(signed_bars(deltas, "change", "cause", "B minus A"), width="stretch")
        st.dataframe(deltas[["cause", "A", "B", "change"]], hide_index=True, width="stretch")
        for flag in shown_b.red_flags:
            st.error(
                f"Scenario B red flag **{flag['id']}**: {flag['message']}", icon=":material/flag:"
            )
    except CrampnetError as exc:
        st.error(f"Scenario B cannot be scored: {exc}")

# --- the network ---------------------------------------------------------------------------
with network_tab:
    mode = st.radio("Shade causes by", ["posterior", "change"], horizontal=True, key="net_mode")
    st.caption("Bold border: answered; double purple border: set by intervention; dashed: hidden.")
    st.graphviz_chart(network_dot(model, shown, mode=mode), width="stretch")
    node_id = st.selectbox(
        "Show the table of",
        list(priors.nodes),
        format_func=lambda n: priors.nodes[n].label,
        key="net_node",
    )
    st.dataframe(node_table(model, node_id), hide_index=True, width="stretch")
    for claim in node_claims(model, node_id):
        st.markdown(f"- **{claim['id']}** ({claim['section']}): {claim['text']}")

# --- download ------------------------------------------------------------------------------
with download_tab:
    st.download_button(
        "Download this case and its posterior (JSON)",
        case_json(model, shown),
        file_name="crampnet-case.json",
        mime="application/json",
    )
    st.caption("Re-score it with `crampnet diagnose` (the 'case' part is a case file).")
    case = json.dumps(shown.scenario.to_case(priors), ensure_ascii=False)
    today = dt.date.today().isoformat()
    for fmt, label in (("html", "report (HTML)"), ("pdf", "report (PDF)")):
        st.download_button(
            f"Download the {label}",
            partial(report_file, case, fmt, today),  # built only when clicked, then cached
            file_name=f"crampnet-report.{fmt}",
            mime=MIME[fmt],
            key=f"report_{fmt}",
            on_click="ignore",
        )
    st.caption(
        "The report is what `crampnet report CASE.json -o report.pdf` writes: the notice and "
        "red flags first, your answers, the ranked causes with 90% intervals, what moved them "
        "and the source's claims, the next questions, the source's remedy claims (not advice) "
        "and the case itself."
    )

with st.expander("Debug: timings and model identity"):
    server_ms = (time.perf_counter() - started) * 1000
    st.metric("server time for this rerun", f"{server_ms:.0f} ms")
    st.caption(
        f"Model {priors.meta.name} {priors.meta.version}, priors sha256 {priors.sha256}. "
        "The 150 ms target is measured in `make bench`."
    )
