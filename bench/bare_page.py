"""A bare Streamlit page with a dozen selectboxes: the yardstick for the explorer's waits.

``make bench`` times answers on this page and on the explorer in the same run, in the same
browser, so the ratio says how much the explorer adds to what Streamlit itself costs.
"""

import streamlit as st

OPTIONS = ["not answered", "yes", "no", "probably yes", "probably no"]

st.title("A bare page")
with st.sidebar:
    for i in range(12):
        st.selectbox(f"Question {i + 1}", OPTIONS, key=f"q{i}")
st.write("Answered:", sum(st.session_state[f"q{i}"] != OPTIONS[0] for i in range(12)))
