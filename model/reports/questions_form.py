"""The explorer's questions as one page component: what it is given and what it may send back.

Forty-nine Streamlit selectboxes cost the browser about 140 ms of rendering after every answer
(a bare page of twelve settles in about 75 ms); one ``st.components.v2`` component drawing
native ``<select>`` elements costs a fraction of that, and keeping the answers in the address
from the page itself spares Streamlit a second render of the whole page per answer. The
component (``questions_form.js`` and ``.css`` beside this module) only draws what
:func:`form_data` computes and reports each change as an ``answer`` event; the page checks
every event with :func:`read_event` before it becomes an answer. All text reaches the page
through ``textContent``: nothing from the priors or the address is parsed as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files

from model.knowledge.priors import Priors
from model.knowledge.schema import Node
from model.reports.wording import state_word

NOT_ANSWERED = "not answered"
PROBABLY_WORD = "probably "  # the prefix of a soft answer among a question's choices
EVENT = "answer"  # the component's event: {question id: choice, ...}


def answer_choices(node: Node) -> list[str]:
    """A question's choices: not answered, each state, then each state as a soft answer."""
    return [NOT_ANSWERED, *node.states, *(PROBABLY_WORD + s for s in node.states)]


def form_data(
    priors: Priors,
    chosen: Mapping[str, str],
    address: Mapping[str, str],
    *,
    open_group: str = "Where",
) -> dict:
    """What the component draws: each group of questions (its title with how many are
    answered, open or not), each question's label, full question, choices in words and the
    current choice, and the query string the address should show (``address``).

    Groups whose title starts with ``open_group`` start open; the person's own opening and
    closing of a group is kept by the page from then on. A plain dict on purpose: it is the
    JSON the component's script reads (``groups``, ``address``), sent as it is.
    """
    groups = []
    for title, node_ids in priors.questions().items():
        done = sum(chosen.get(n, NOT_ANSWERED) != NOT_ANSWERED for n in node_ids)
        groups.append(
            {
                "title": f"{title} ({done} of {len(node_ids)} answered)",
                "open": title.startswith(open_group),
                "questions": [
                    {
                        "id": n,
                        "label": priors.nodes[n].label,
                        "help": " ".join(
                            filter(None, (priors.nodes[n].question, priors.nodes[n].help))
                        ),
                        "choices": [[c, state_word(c)] for c in answer_choices(priors.nodes[n])],
                        "chosen": chosen.get(n, NOT_ANSWERED),
                    }
                    for n in node_ids
                ],
            }
        )
    return {"groups": groups, "address": dict(address)}


def read_event(priors: Priors, event: object) -> dict[str, str]:
    """The answers an ``answer`` event carries, each a question the form asks with one of its
    choices; anything else in it is dropped (the page's own script sends only these)."""
    if not isinstance(event, Mapping):
        return {}
    asked = {n for ids in priors.questions().values() for n in ids}
    return {
        node_id: choice
        for node_id, choice in event.items()
        if node_id in asked and choice in answer_choices(priors.nodes[node_id])
    }


def asset(name: str) -> str:
    """The text of one of the component's files (``questions_form.js`` or ``.css``)."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")
