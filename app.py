"""crampnet what-if explorer: answers in, ranked causes with uncertainty, why, what to ask next.

A thin page over ``model`` (``model.diagnosis.view`` computes every number shown here,
``model.reports.explorer`` the tables and charts around them and
``model.reports.wording`` every sentence; this file only lays them out). Answers live in the URL so
a scenario can be bookmarked and shared. Run with ``make run`` (binds to 127.0.0.1).

What a person waits for is kept small: only the chosen view is computed and sent (views rerun
on their own, a fragment), long tables are drawn on demand, no chart is animated or laid out in
the browser by graphviz, and nothing from the URL is rendered as markdown (``st.text`` only).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import time
from functools import partial

import pandas as pd
import streamlit as st

from model import CrampnetError, default_model, diagnose
from model.diagnosis.casebook import follow_up, save_case, timeline, top_over_time
from model.diagnosis.scenario import B_PREFIX, Scenario, from_query, to_query
from model.diagnosis.view import PAGE_DRAWS, view, why
from model.readwrite.casebook import CaseBook, default_url
from model.reports.charts import (
    causes_chart,
    if_fixed_chart,
    neighbourhood_chart,
    side_by_side,
    signed_bars,
    timeline_chart,
)
from model.reports.content import build_report
from model.reports.explorer import (
    CAUSE_ORDERS,
    case_json,
    cause_rows,
    compare,
    neighbourhood,
    network_dot,
    node_claims,
    node_table,
    view_key,
)
from model.reports.questions_form import (
    EVENT,
    NOT_ANSWERED,
    PROBABLY_WORD,
    answer_choices,
    asset,
    form_data,
    read_event,
)
from model.reports.render import MIME, render
from model.reports.wording import (
    GLOSSARY,
    answer_label,
    arrow,
    cause_label,
    cause_table,
    conflict_notice,
    conflict_sentence,
    escape_markdown,
    intervention_label,
    markdown_table,
    next_step,
    question_table,
    signed,
    state_word,
    step_words,
    summarise,
    trial_tests,
)

TOP = "top"  # the Why view's "follow the current top cause" choice
ASK_SHOWN = 5  # questions drawn with answer buttons in Ask next; the table lists them all
ASK_DETAIL = ":small[{}]"  # what a question in Ask next would tell, in small print

st.set_page_config(page_title="crampnet: cramp causes explorer", layout="wide")


@st.cache_resource(show_spinner="Loading the model (once)...")
def get_model():
    model = default_model()
    model.counterfactuals.warm()  # every twin network built now, not during an answer
    # What the server holds by now (Streamlit, the model, its twins) lives as long as it does:
    # it leaves the collector's full passes, each of which cost about 100 ms on this heap and
    # landed in whichever answer triggered it (3 in 40 answers; frozen, such a pass takes 6 to
    # 9 ms)
    gc.collect()
    gc.freeze()
    return model


@st.cache_resource
def get_book(url: str) -> CaseBook:
    """The case book at ``url`` (``$CRAMPNET_DB``, else a file in the user's data folder),
    opened (and its schema brought up to date) once per process."""
    return CaseBook(url)


@st.cache_resource(max_entries=64)
def cached_view(_model, answers: tuple, probably: tuple, do: tuple, cost_weight: float):
    """One view per scenario, shared read-only: reruns that change no answer reuse it."""
    scenario = Scenario(dict(answers), dict(probably), dict(do))
    return view(_model, scenario, cost_weight=cost_weight, draws=PAGE_DRAWS)


@st.cache_data(max_entries=16, show_spinner=False)
def report_file(case: str, fmt: str, day: str) -> bytes:
    """The report of a case (JSON text) as ``crampnet report`` writes it; built on click."""
    answers = json.loads(case)
    report = build_report(
        get_model(), answers["evidence"], answers.get("soft_evidence"), answers.get("do"), date=day
    )
    return render(report, fmt)


def md(text: str) -> str:
    """Text from the priors, escaped for a markdown element: shown as written."""
    return escape_markdown(text)


# The sidebar's questions: one component of native selects (model/reports/questions_form.py)
QUESTIONS_FORM = st.components.v2.component(
    "crampnet_questions", js=asset("questions_form.js"), css=asset("questions_form.css")
)
FORM_KEY = "questions"


def read_choice(scenario: Scenario, node_id: str, choice: str, how: str = "sure") -> Scenario:
    if choice == NOT_ANSWERED:
        return scenario.with_answer(node_id, None)
    if choice.startswith(PROBABLY_WORD):
        return scenario.with_answer(node_id, choice[len(PROBABLY_WORD) :], how="probably")
    return scenario.with_answer(node_id, choice, how=how)


def shown_choice(scenario: Scenario, node_id: str) -> str:
    if node_id in scenario.evidence:
        return scenario.evidence[node_id]
    if node_id in scenario.probably:
        return PROBABLY_WORD + scenario.probably[node_id]
    return NOT_ANSWERED


def answer(node_id: str, state: str) -> None:
    """Callback of an answer button (Ask next, Interview): answer in scenario A."""
    st.session_state[f"q_{node_id}"] = state
    whole_page()


def whole_page() -> None:
    """Callback of a widget inside the views whose change the rest of the page shows: the
    interaction reruns the whole page at once, not the views' fragment and then the page."""
    st.rerun()


def answer_buttons(prefix: str, node_id: str, states, **style) -> None:
    """One button per answer (keys ``{prefix}_{node}_{state}``), each answering in scenario A."""
    for state in states:
        st.button(
            state_word(state),
            key=f"{prefix}_{node_id}_{state}",
            on_click=answer,
            args=(node_id, state),
            **style,
        )


def show_cautions(cautions) -> None:
    """A trial's cautions (priors/red_flags.yaml), each a warning beside its buttons."""
    for caution in cautions:
        st.warning(
            f"**Caution: {md(caution.title)}.** {md(caution.message)}", icon=":material/pan_tool:"
        )


def skip(node_id: str) -> None:
    """Callback of the interview's "skip": leave the question unanswered, ask the next."""
    st.session_state["skipped"] = [*st.session_state.get("skipped", []), node_id]


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
    st.session_state["skipped"] = []
    st.session_state["link_problems"] = []
    st.query_params.clear()


def restrict(scenario: Scenario, allowed: set[str], prefix: str) -> tuple[Scenario, list[str]]:
    """``scenario`` without what this page cannot show, and a message for each dropped part."""
    kept, problems = Scenario(), []
    for how, answers in (("sure", scenario.evidence), ("probably", scenario.probably)):
        for node_id, state in answers.items():
            if node_id in allowed:
                kept = kept.with_answer(node_id, state, how=how)
            else:
                problems.append(
                    f"ignored {prefix}{node_id}: '{priors.nodes[node_id].label}' is not a "
                    "question this page asks"
                    + (" in scenario B" if prefix else " (causes can be set in What-if)")
                )
    for node_id, state in scenario.do.items():
        if prefix and node_id in allowed:
            kept = kept.with_answer(node_id, state, how="do")
        else:
            problems.append(
                f"ignored {prefix}do.{node_id}: interventions belong to scenario B (What-if view)"
                if not prefix
                else f"ignored b.do.{node_id}: not something scenario B can set"
            )
    return kept, problems


started = time.perf_counter()
KEPT = ("cost_weight", "why_cause", "net_cause", "rank_by", "causes_table", "ask_table")


def keep_hidden_widgets() -> None:
    """Streamlit forgets a widget's value after a run that does not draw it, and a view not
    shown draws nothing: re-set these so the effort weight, a pinned Why cause, the Network's
    cause, the ranking and the tables asked for survive a change of view (a whole rerun or one
    of the views' fragment)."""
    for kept in KEPT:
        if kept in st.session_state:
            st.session_state[kept] = st.session_state[kept]


keep_hidden_widgets()
model = get_model()
priors = model.priors
questions_a = [n for ids in priors.questions().values() for n in ids]
settable_b = questions_a + model.causes

# --- scenario A from the URL and the sidebar ----------------------------------------------
params = st.query_params.to_dict()
url_a, url_problems = from_query(priors, params)
url_b, problems_b = from_query(priors, params, B_PREFIX)
url_a, dropped_a = restrict(url_a, set(questions_a), "")
url_b, dropped_b = restrict(url_b, set(settable_b), B_PREFIX)
for node_id in priors.nodes:
    st.session_state.setdefault(f"q_{node_id}", shown_choice(url_a, node_id))


def answered_in_form() -> None:
    """Callback of the questions' component: its ``answer`` event, checked, becomes answers."""
    for node_id, choice in read_event(priors, st.session_state[FORM_KEY][EVENT]).items():
        st.session_state[f"q_{node_id}"] = choice


scenario_a = Scenario()
for node_id in questions_a:
    scenario_a = read_choice(scenario_a, node_id, st.session_state[f"q_{node_id}"])
with st.sidebar:
    st.header("Your answers")
    st.markdown(f"**{len(scenario_a.answered())} of {len(questions_a)} answered.**")
    st.caption(
        "Leave a question 'not answered' if you do not know; 'probably' is a softer answer. "
        "The Interview view asks the most useful question for you."
    )
    st.button("Reset all answers", on_click=reset, width="stretch")
    QUESTIONS_FORM(
        key=FORM_KEY,
        data=form_data(
            priors,
            {n: st.session_state[f"q_{n}"] for n in questions_a},
            # the address the page shows: kept by the component, not by st.query_params
            # (Streamlit draws the whole page again on every change of its address)
            {**to_query(scenario_a), **to_query(url_b, B_PREFIX)},
        ),
        on_answer_change=answered_in_form,
    )

# --- the notice, problems with the link and red flags come before any number --------------
st.title("crampnet: what might be behind your cramps?")
st.caption(
    "Answer in the sidebar (on a narrow screen, open it with the arrow button at the top "
    "left) or let the Interview view ask you one question at a time."
)
st.warning(md(priors.meta.notice), icon=":material/warning:")
# kept for the session: the link is rewritten after the first run, its problems stay shown
link_problems = st.session_state.setdefault(
    "link_problems", url_problems + problems_b + dropped_a + dropped_b
)
if link_problems:
    with st.container(border=True):
        st.markdown("**Some parts of the link were ignored** (the rest of it was used):")
        for problem in link_problems:
            st.text(problem)  # plain text: nothing from a URL is rendered as markdown

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
    st.error(f"These answers cannot be scored together: {md(str(exc))}")
    st.caption("Change one of the answers named above; the other answers are kept.")
    st.stop()

flags = shown.diagnosis.red_flags
st.subheader("Red flags" + (f" ({len(flags)})" if flags else ""))
if flags:
    for flag in flags:
        st.error(f"**{md(flag.title)}.** {md(flag.message)}", icon=":material/flag:")
else:
    st.success("No red flag raised by these answers. That is not a clean bill of health.")

conflict = shown.diagnosis.conflict
said = conflict_sentence(
    priors, {**shown.diagnosis.evidence, **shown.diagnosis.soft_evidence}, conflict
)
if said and conflict_notice(conflict):
    st.warning(md(said), icon=":material/rule:")
elif said:
    st.caption(md(said))

ranked = shown.diagnosis.ranked()
top = ranked[0]
top_why = why(model, shown, top["cause"], top["state"])
summary = summarise(
    priors,
    ranked,
    shown.intervals,
    top_why.contributions,
    shown.questions,
    len(scenario_a.answered()),
    rank_first=shown.rank_first,
    if_fixed=shown.diagnosis.if_fixed,
)
st.subheader("In short")
st.markdown(md(summary.text))
with st.expander("What the words mean"):
    # one element (a list), not one per term: every element is redrawn on every answer
    st.markdown("\n".join(f"- **{md(term)}**: {md(meaning)}" for term, meaning in GLOSSARY))


def causes_view() -> None:
    """The causes ranked by probability (or by what putting each right would stop), as a
    chart with each bar's number; the numbers in words as a table on demand (a table of
    fourteen rows drawn on every answer cost about 10 ms of the browser's wait)."""
    by = st.radio(
        "Rank the causes by",
        CAUSE_ORDERS,
        format_func=lambda o: {
            "probability": "how probable",
            "if fixed": "what putting it right would stop",
        }[o],
        horizontal=True,
        key="rank_by",
    )
    table = cause_rows(model, shown, by)
    if by == "probability":
        st.caption(
            "Bars: how probable each cause is with your answers (the number beside it); "
            "black line: the 90% interval from the uncertainty of the model's own "
            "numbers; thick black tick: the probability before any answer."
        )
        st.vega_lite_chart(causes_chart(table), width="stretch")
    else:
        st.caption(
            "Bars: had only this cause been normal, how many of the features you report "
            "would be expected to stop (a counterfactual: what fixing it would do, not "
            "how probable it is). Hover for the chance that all of them would stop."
        )
        st.vega_lite_chart(if_fixed_chart(table), width="stretch")
    if st.toggle("Show the numbers as a table", key="causes_table"):
        st.markdown(markdown_table(cause_table(table, by)))


def interview_view() -> None:
    """One question at a time, the most telling first, with large answer buttons."""
    step = next_step(
        priors,
        shown.questions,
        len(scenario_a.answered()),
        skipped=frozenset(st.session_state.get("skipped", [])),
    )
    st.markdown(f"**{step.progress}.**")
    if step.done:
        st.success(md(step.reason))
    else:
        st.subheader(md(step.question))
        about = "a trial" + (f" of about {step.cost:g} days" if step.cost else "")
        st.caption(
            md(f"{step.label}: {about if step.kind == 'trial' else 'a question'}. ")
            + md("Asked first because its answer is expected to tell the most.")
        )
        show_cautions(step.cautions)
        with st.container(horizontal=True):
            answer_buttons("iv", step.variable, step.states, type="primary", width=180)
            st.button(
                "I don't know (skip)",
                key=f"iv_skip_{step.variable}",
                on_click=skip,
                args=(step.variable,),
                width=180,
            )


def why_view() -> None:
    """Why the top cause (or a pinned one) stands where it does: each answer's part and the
    source's claims on the links."""
    choices = [TOP, *(f"{r['cause']}={r['state']}" for r in ranked)]
    chosen = st.selectbox(
        "Explain which cause?",
        choices,
        key="why_cause",
        format_func=lambda c: (
            f"the current top cause ({summary.label})"
            if c == TOP
            else cause_label(priors, *c.split("="))
        ),
    )
    cause, state = (top["cause"], top["state"]) if chosen == TOP else chosen.split("=")
    reason = top_why if chosen == TOP else why(model, shown, cause, state)
    change = reason.posterior - reason.prior
    st.metric(
        cause_label(priors, cause, state),
        f"{reason.posterior:.3f}",
        f"{signed(change)} from {reason.prior:.3f} before any answer",
        delta_color="off",
        delta_arrow=arrow(change),
    )
    if reason.contributions:
        moves = pd.DataFrame(
            [
                {
                    "answer": answer_label(priors, c.variable, c.answer),
                    "change": c.delta,
                    "without this answer": c.without,
                }
                for c in reason.contributions
            ]
        )
        moves = moves.sort_values("change", key=abs, ascending=False, ignore_index=True)
        st.caption(
            "Each bar: how much this answer moves the probability, found by taking that "
            "one answer back and keeping the others. Answers overlap and reinforce or "
            "weaken each other, so the bars need not add up to the whole change from "
            "before any answer."
        )
        st.vega_lite_chart(
            signed_bars(moves, "change", "answer", "change made by the answer"),
            width="stretch",
        )
    else:
        st.info("No answers yet: this is the probability before any answer.")
    st.markdown("**What the source claims on the links involved** (paraphrased; one page)")
    for claim in reason.claims:
        links = ", ".join(
            f"{priors.nodes[a].label} \u2192 {priors.nodes[b].label}"
            for a, b in (link.split(" -> ") for link in claim.links)
        )
        st.markdown(
            f"- **{claim.id}** ({md(claim.section)}): {md(claim.text)}  \n  _links: {md(links)}_"
        )
    if not reason.claims:
        st.caption("No answer is linked to this cause yet.")


def ask_next_view() -> None:
    """The questions and trials expected to tell the most, each with its answer buttons."""
    st.slider(
        "Weigh information against effort (bits given up per day a trial takes)",
        0.0,
        0.2,
        key="cost_weight",
        step=0.01,
        on_change=whole_page,  # the ranking is computed with the page, not the view
        help="0: rank by information alone. Higher: prefer quick questions to trials.",
    )
    if not shown.questions:
        st.info("Every question is answered: nothing left to ask.")
    for q in shown.questions[:ASK_SHOWN]:
        node = priors.nodes[q.variable]
        detail = q.max_change_detail
        with st.container(border=True):
            said = f"Expected information {q.info_gain:.3f} bits"
            if node.cost:
                said += f"; a trial of about {node.cost:g} days"
            if detail:
                said += (
                    f". The answer '{state_word(detail.answer)}' would move "
                    f"{cause_label(priors, detail.target, detail.state)} from "
                    f"{detail.before:.2f} to {detail.after:.2f}"
                )
            tests = trial_tests(priors, q.variable, shown.diagnosis.if_fixed)
            # one element for the question and what it would tell (each element is redrawn
            # on every answer given here)
            st.markdown(
                f"**{md(node.label)}**: {md(node.question)}  \n"
                + ASK_DETAIL.format(md(said + "."))
                + (f"  \n{ASK_DETAIL.format(md(tests))}" if tests else "")
            )
            show_cautions(q.cautions)
            with st.container(horizontal=True):
                answer_buttons("ask", q.variable, node.states)
    if shown.questions and st.toggle(
        f"Show all {len(shown.questions)} questions and trials ranked, as a table",
        key="ask_table",
    ):
        st.markdown(markdown_table(question_table(priors, shown.questions)))


def what_if_view() -> None:
    """Scenario B: a copy of the answers with changes, compared with A."""
    st.markdown(
        "Scenario **B** is a copy of your answers (A) with the changes you pick below. "
        "Switch on **make it so** for a habit you could change: the model then treats it "
        "as your doing (an intervention) and does not infer what usually leads to it."
    )
    st.button("Reset B to a plain copy of A", on_click=reset_b)
    overrides = Scenario()  # what B changes, kept in the URL with the prefix b.
    changed = st.multiselect(
        "What to change in B",
        settable_b,
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
        choice = cols[0].selectbox(
            f"B: {node.label}",
            answer_choices(node),
            key=f"b_{node_id}",
            format_func=state_word,
        )
        intervene = cols[1].toggle(
            "make it so (intervention)",
            key=f"do_{node_id}",
            help="On: as if you changed it yourself. Off: as if you had only noticed it.",
        )
        if intervene and choice not in (NOT_ANSWERED,) and not choice.startswith(PROBABLY_WORD):
            cols[1].caption(md(intervention_label(priors, node_id, choice)))
        overrides = read_choice(overrides, node_id, choice, how="do" if intervene else "sure")
    scenario_b = scenario_a
    st.session_state.pop("scenario_b_case", None)
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
    wanted = {**to_query(scenario_a), **to_query(overrides, B_PREFIX)}
    if st.query_params.to_dict() != wanted:  # only a change: each redraws the page
        st.query_params.from_dict(wanted)
    if scenario_b != scenario_a:  # the Case book view can keep B as a case too
        st.session_state["scenario_b_case"] = scenario_b.to_case(priors)
    try:
        shown_b = diagnose(
            scenario_b.evidence,
            scenario_b.soft_evidence(priors),
            do=scenario_b.do,
            model=model,
            draws=PAGE_DRAWS,  # the page's drawn engine, already built
        )
        deltas = compare(model, shown.diagnosis, shown_b)
        if scenario_b == scenario_a:
            st.info("B is the same as A: pick what to change above to compare.")
        else:
            moved = deltas[deltas["change"].abs() >= 0.0005]
            if moved.empty:
                st.info("B differs from A, but no cause moves by 0.001 or more.")
            else:
                st.vega_lite_chart(side_by_side(moved), width="stretch")
            st.table(
                deltas[["cause", "A", "B", "change"]]
                .rename(columns={"A": "A: your answers", "B": "B: with the changes"})
                .style.format(precision=3)
                .format(signed, subset=["change"])
                .hide(axis="index")
            )
        for flag in shown_b.red_flags if scenario_b != scenario_a else []:
            st.error(
                f"Scenario B red flag: **{md(flag.title)}.** {md(flag.message)}",
                icon=":material/flag:",
            )
    except CrampnetError as exc:
        st.error(f"Scenario B cannot be scored: {md(str(exc))}")


def network_view() -> None:
    """The links around one cause, and any node's table."""
    st.session_state.setdefault("net_cause", top["cause"])  # the top cause first
    centre = st.selectbox(
        "Show the links of",
        model.causes,
        format_func=lambda n: priors.nodes[n].label,
        key="net_cause",
    )
    st.caption(
        "Left: what raises it (risk factors). Right: what it makes likelier (findings; "
        "'hidden' ones are worked out from your answers). Each names a state and its "
        "probability with your answers; squares are answered, circles not."
    )
    nodes, links = neighbourhood(model, shown, centre)
    st.vega_lite_chart(neighbourhood_chart(nodes, links), width="stretch")
    node_id = st.selectbox(
        "Show the table of",
        list(priors.nodes),
        index=list(priors.nodes).index(centre),
        format_func=lambda n: priors.nodes[n].label,
        key=f"net_node_{centre}",  # a new centre shows its own table first
    )
    spec = priors.nodes[node_id]
    st.caption(
        md(
            f"How probable each state of '{spec.label}' is for every combination of "
            "what it depends on (one row each)."
        )
    )
    table = node_table(model, node_id)
    for parent in spec.parents:
        table[parent] = table[parent].map(state_word)
    table = table.rename(
        columns={
            **{p: priors.nodes[p].label for p in spec.parents},
            **{f"P({s})": f"P({state_word(s)})" for s in spec.states},
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=320)
    for claim in node_claims(model, node_id):
        st.markdown(f"- **{claim['id']}** ({md(claim['section'])}): {md(claim['text'])}")
    st.download_button(
        "Download the whole network (Graphviz DOT)",
        network_dot(model, shown),
        file_name="crampnet-network.dot",
        mime="text/vnd.graphviz",
    )


def case_book_view() -> None:
    """Saved cases: save, open, follow up, compare."""
    case_book(shown.scenario.to_case(priors))


def download_view() -> None:
    """The case and its report, as files."""
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
        "The report is what `crampnet report CASE.json -o report.pdf` writes: the notice "
        "and red flags first, your answers, the ranked causes with 90% intervals, what "
        "moved them and the source's claims, the next questions, the source's remedy "
        "claims (not advice) and the case itself."
    )


def case_book(case_a: dict) -> None:
    """Keep cases and come back to them: save A (and B), open a saved case into the sidebar,
    add a follow-up, see its timeline, compare two saved cases."""
    try:
        book = get_book(default_url())
    except CrampnetError as exc:
        st.error(f"The case book cannot be opened: {md(str(exc))}")
        return
    st.caption(
        f"Cases are kept in {md(book.url.split('://', 1)[0])} on this machine (set "
        "CRAMPNET_DB to use another). The page listens on this computer only: sharing it "
        "beyond needs an authenticating proxy in front."
    )
    label = st.text_input("A label for these answers (no name needed)", key="cb_label")
    with st.container(horizontal=True):
        if st.button("Save these answers as a case", key="cb_save", disabled=not label.strip()):
            case_id = save_case(model, book, label, case_a)
            st.success(f"Saved as case {case_id}.")
        case_b = st.session_state.get("scenario_b_case")
        if case_b and st.button(
            "Save scenario B as a case", key="cb_save_b", disabled=not label.strip()
        ):
            case_id = save_case(model, book, f"{label.strip()} (B)", case_b)
            st.success(f"Scenario B saved as case {case_id}.")
    saved = book.list(50)
    if not saved:
        st.info("No saved case yet.")
        return
    names = {c.id: f"#{c.id} {c.label} (updated {c.updated:%Y-%m-%d %H:%M})" for c in saved}
    chosen = st.selectbox("A saved case", list(names), format_func=names.get, key="cb_case")
    case = book.get(chosen)
    with st.container(horizontal=True):
        st.button(
            "Open it in the sidebar",
            key="cb_open",
            on_click=open_case,
            args=(case.answers().to_case(),),
        )
        if st.button("Add the answers now as a follow-up", key="cb_follow"):
            added = follow_up(model, book, chosen, answers=case_a)
            st.success(
                f"{len(added)} entr{'y' if len(added) == 1 else 'ies'} added."
                if added
                else "Nothing changed since the last entry."
            )
            case = book.get(chosen)
    with st.expander("Record an outcome or a note"):
        causes = model.abnormal_states()
        cause_state = st.selectbox(
            "Cause", causes, format_func=lambda cs: cause_label(priors, *cs), key="cb_cause"
        )
        verdict = st.radio(
            "A test or trial",
            ["confirmed", "ruled_out"],
            format_func=state_word,
            horizontal=True,
            key="cb_verdict",
        )
        if st.button("Record it", key="cb_outcome"):
            follow_up(
                model,
                book,
                chosen,
                outcomes=[
                    {"outcome": verdict, "variable": cause_state[0], "state": cause_state[1]}
                ],
            )
            case = book.get(chosen)
        if st.button("The cramps are gone", key="cb_gone"):
            follow_up(model, book, chosen, outcomes=[{"outcome": "cramps_gone"}])
            case = book.get(chosen)
        note = st.text_area("Note", key="cb_note")
        if st.button("Add the note", key="cb_add_note", disabled=not note.strip()):
            follow_up(model, book, chosen, note=note)
            case = book.get(chosen)
    steps = timeline(model, case)
    st.markdown(f"**Timeline of {md(case.label)}** (probabilities by the model now)")
    table = top_over_time(model, steps)
    if table["step"].nunique() > 1:
        st.vega_lite_chart(timeline_chart(table), width="stretch")
    for step in steps:
        st.text(f"{step['at'][:16].replace('T', ' ')}  {step_words(priors, step)}")
    others = [i for i in names if i != chosen]
    if others:
        other = st.selectbox("Compare with", others, format_func=names.get, key="cb_compare")
        a = diagnose(**_case_args(case.answers().to_case()), model=model, draws=PAGE_DRAWS)
        b = diagnose(
            **_case_args(book.get(other).answers().to_case()), model=model, draws=PAGE_DRAWS
        )
        table = compare(model, a, b)
        st.vega_lite_chart(side_by_side(table, (names[chosen], names[other])), width="stretch")


def _case_args(case: dict) -> dict:
    return {
        "evidence": case["evidence"],
        "soft_evidence": case.get("soft_evidence"),
        "do": case.get("do"),
    }


def open_case(case: dict) -> None:
    """Callback: the saved case's answers become scenario A (every other answer cleared)."""
    for node_id in questions_a:
        st.session_state[f"q_{node_id}"] = NOT_ANSWERED
    for node_id, state in case.get("evidence", {}).items():
        if node_id in questions_a:
            st.session_state[f"q_{node_id}"] = state
    for node_id, likelihood in case.get("soft_evidence", {}).items():
        if node_id in questions_a:
            st.session_state[f"q_{node_id}"] = PROBABLY_WORD + max(likelihood, key=likelihood.get)
    whole_page()


# The views, in the order the page offers them; only the chosen one is computed and drawn.
VIEWS = {
    "Causes": causes_view,
    "Interview": interview_view,
    "Why": why_view,
    "Ask next": ask_next_view,
    "What-if": what_if_view,
    "Network": network_view,
    "Case book": case_book_view,
    "Download": download_view,
}


@st.fragment
def results() -> None:
    """The chosen view. A fragment: switching views, pinning a cause or building scenario B
    reruns only this part, not the sidebar of 49 questions; an answer given here (or the
    effort weight) reruns the whole page (:func:`whole_page`).

    A row of view buttons rather than ``st.tabs``: the browser re-checks every tab panel's
    focusable content after each change of the page, which cost about 12 ms of every
    answer's wait (measured in headless chromium)."""
    keep_hidden_widgets()
    chosen = st.segmented_control(
        "View", list(VIEWS), default="Causes", required=True, key="view", width="stretch"
    )
    with st.container(key=view_key(chosen)):
        VIEWS[chosen]()


results()

with st.expander("Debug: timings and model identity"):
    server_ms = (time.perf_counter() - started) * 1000
    st.metric("server time for this rerun", f"{server_ms:.0f} ms")
    st.caption(
        f"Model {md(priors.meta.name)} {md(priors.meta.version)}, priors sha256 "
        f"{priors.sha256}. The targets are measured in `make bench`."
    )
