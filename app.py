"""crampnet explorer (first version): answer questions, see the posterior of every cause.

A thin page over ``model``: no logic here that a test of ``model`` could not reach.
Run with ``make run`` (binds to 127.0.0.1).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from model import CrampnetError, default_model, diagnose

NOT_ANSWERED = "not answered"

st.set_page_config(page_title="crampnet: cramp causes explorer", layout="wide")


@st.cache_resource
def get_model():
    return default_model()


model = get_model()
st.title("crampnet: what might be behind your cramps?")
st.warning(model.priors.meta.notice, icon="⚠️")

answers: dict[str, str] = {}
with st.sidebar:
    st.header("Your answers")
    for title, node_ids in model.priors.questions().items():
        st.subheader(title)
        for node_id in node_ids:
            node = model.priors.nodes[node_id]
            choice = st.selectbox(
                node.label,
                [NOT_ANSWERED, *node.states],
                key=f"q_{node_id}",
                help=node.question + (f"\n\n{node.help}" if node.help else ""),
            )
            if choice != NOT_ANSWERED:
                answers[node_id] = choice

try:
    result = diagnose(answers, model=model)
except CrampnetError as exc:
    st.error(f"These answers cannot be scored: {exc}")
    st.stop()

st.subheader("Red flags")
if result.red_flags:
    for flag in result.red_flags:
        st.error(f"**{flag['id']}**: {flag['message']}")
else:
    st.success("No red flag raised by these answers.")

st.subheader("Causes, most probable first")
table = pd.DataFrame(result.ranked())
table["cause"] = table["cause"] + " = " + table["state"]
st.dataframe(
    table[["cause", "posterior", "prior", "lift"]],
    hide_index=True,
    width="stretch",
    column_config={
        "posterior": st.column_config.ProgressColumn("posterior", min_value=0.0, max_value=1.0),
        "prior": st.column_config.NumberColumn("prior", format="%.3f"),
        "lift": st.column_config.NumberColumn("× prior", format="%.2f"),
    },
)
st.caption(
    f"Model {model.priors.meta.name} {result.model['version']}, "
    f"priors sha256 {result.model['sha256'][:16]}…"
)
