"""Vega-Lite specifications of the explorer's charts, as plain dictionaries.

Computing and drawing stay apart: :mod:`model.reports.explorer` computes the tables, these functions
say how to draw them, and the app hands both to ``st.vega_lite_chart``. Plain specs skip
altair's schema validation, which costs more than the inference on every rerun.

Every chart is readable without colour (each bar carries its number, signed where it is a
change) and without truncation (axis labels have no length limit; long labels wrap onto a
second line). Nothing is animated.
"""

from __future__ import annotations

import textwrap

import pandas as pd

RED, BLUE, GREY, PURPLE = "#b2182b", "#2166ac", "#595959", "#7b3294"
A_COLOUR, B_COLOUR = "#4d4d4d", "#d6604d"
WRAP = 34  # characters per axis-label line
ROW = 36  # pixels per bar: room for a label wrapped onto two lines
FONT = 13
CONFIG = {
    "axis": {"labelFontSize": FONT, "titleFontSize": FONT, "labelLimit": 0},
    "legend": {"labelFontSize": FONT, "titleFontSize": FONT, "labelLimit": 0},
    "text": {"fontSize": FONT},
    "view": {"stroke": None},
}


def wrap(label: str, width: int = WRAP) -> list[str]:
    """A label as lines of at most ``width`` characters (Vega draws a list as lines)."""
    return textwrap.wrap(label, width, break_long_words=False) or [label]


def _records(table: pd.DataFrame) -> list[dict]:
    return table.to_dict(orient="records")


def _label_axis(field: str, order: str) -> dict:
    """A label axis sorted by the data's ``order`` field, so that the spec stays the same when
    only the numbers change: the browser then updates the chart's data instead of building
    the chart anew."""
    return {
        "field": field,
        "type": "nominal",
        "sort": {"field": order, "order": "ascending"},
        "title": None,
        "axis": {
            "labelExpr": "split(datum.label, '\\n')",
            "labelLimit": 0,
            "labelOverlap": False,
        },
    }


def _wrapped(table: pd.DataFrame, field: str) -> pd.DataFrame:
    """``table`` with ``field`` line-broken for the axis (lines joined by a newline)."""
    out = table.copy()
    out[field] = [("\n".join(wrap(str(v)))) for v in table[field]]
    return out


def _cause_bars(
    table: pd.DataFrame, x: dict, colour: str, shown: list[str], tooltip: list[dict], at: str
) -> tuple[dict, dict]:
    """A bar per cause state in the table's order with its number beside it (text at field
    ``at``), and the y encoding for more layers."""
    data = _wrapped(table, "cause")
    data["shown"] = shown
    data["rank"] = range(len(data))
    y = _label_axis("cause", "rank")
    spec = {
        "data": {"values": _records(data)},
        "height": {"step": ROW},
        "config": CONFIG,
        "layer": [
            {
                "mark": {"type": "bar", "color": colour},
                "encoding": {"y": y, "x": x, "tooltip": tooltip},
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "color": "#000000"},
                "encoding": {
                    "y": y,
                    "x": {"field": at, "type": "quantitative"},
                    "text": {"field": "shown"},
                },
            },
        ],
    }
    return spec, y


def causes_chart(table: pd.DataFrame) -> dict:
    """Posterior of each abnormal cause state as a bar with its number, the 90% interval as a
    whisker, the prior as a black tick; in the table's order (most probable first)."""
    x = {
        "field": "posterior",
        "type": "quantitative",
        "scale": {"domain": [0, 1.12]},
        "axis": {"values": [0, 0.25, 0.5, 0.75, 1]},
        "title": "probability",
    }
    tooltip = [
        {"field": "cause", "title": "cause"},
        {"field": "posterior", "format": ".3f", "title": "with your answers"},
        {"field": "low", "format": ".3f", "title": "90% interval from"},
        {"field": "high", "format": ".3f", "title": "90% interval to"},
        {"field": "prior", "format": ".3f", "title": "before any answer"},
    ]
    shown = [f"{p:.2f}" for p in table["posterior"]]
    spec, y = _cause_bars(table, x, RED, shown, tooltip, at="high")
    spec["layer"][1:1] = [
        {
            "mark": {"type": "rule", "color": "#000000"},
            "encoding": {
                "y": y,
                "x": {"field": "low", "type": "quantitative"},
                "x2": {"field": "high"},
            },
        },
        {
            "mark": {"type": "tick", "color": "black", "thickness": 3, "size": 20},
            "encoding": {"y": y, "x": {"field": "prior", "type": "quantitative"}},
        },
    ]
    return spec


def if_fixed_chart(table: pd.DataFrame) -> dict:
    """What putting each abnormal cause state right alone would stop: the expected number of
    the present features as a bar with its number, out of how many are present; in the
    table's order."""
    most = float(table["features"].max()) if len(table) else 1.0
    x = {
        "field": "stops",
        "type": "quantitative",
        "scale": {"domain": [0, max(most, 1.0) * 1.25]},
        "title": "features expected to stop if only this were put right",
    }
    tooltip = [
        {"field": "cause", "title": "cause"},
        {"field": "stops", "format": ".2f", "title": "expected to stop"},
        {"field": "all_stop", "format": ".2f", "title": "all of them stop"},
        {"field": "posterior", "format": ".3f", "title": "probability"},
    ]
    shown = [f"{v:.1f} of {n:g}" for v, n in zip(table["stops"], table["features"], strict=True)]
    return _cause_bars(table, x, PURPLE, shown, tooltip, at="stops")[0]


def signed_bars(table: pd.DataFrame, value: str, label: str, title: str) -> dict:
    """Horizontal bars of a signed quantity: red and right when positive, blue and left when
    negative, each with its signed number (colour is never the only cue)."""
    data = _wrapped(table, label)
    data["shown"] = [
        f"{v:+.3f}".replace("-", "\u2212") if round(v, 3) else "0.000" for v in table[value]
    ]
    data["side"] = ["up" if v > 0 else "down" for v in table[value]]
    data["rank"] = range(len(data))
    y = _label_axis(label, "rank")
    x = {"field": value, "type": "quantitative", "title": title, "axis": {"tickCount": 6}}
    top = max(0.05, float(table[value].abs().max()) * 1.35) if len(table) else 1.0
    x["scale"] = {"domain": [-top, top]}
    return {
        "data": {"values": _records(data)},
        "height": {"step": ROW},
        "config": CONFIG,
        "layer": [
            {
                "mark": "bar",
                "encoding": {
                    "y": y,
                    "x": x,
                    "color": {
                        "field": "side",
                        "type": "nominal",
                        "scale": {"domain": ["up", "down"], "range": [RED, BLUE]},
                        "legend": None,
                    },
                    "tooltip": [{"field": label}, {"field": value, "format": "+.3f"}],
                },
            },
            {
                "mark": {"type": "text", "color": "#000000", "align": "left", "dx": 4},
                "transform": [{"filter": f"datum['{value}'] >= 0"}],
                "encoding": {
                    "y": y,
                    "x": {"field": value, "type": "quantitative"},
                    "text": {"field": "shown"},
                },
            },
            {
                "mark": {"type": "text", "color": "#000000", "align": "right", "dx": -4},
                "transform": [{"filter": f"datum['{value}'] < 0"}],
                "encoding": {
                    "y": y,
                    "x": {"field": value, "type": "quantitative"},
                    "text": {"field": "shown"},
                },
            },
        ],
    }


def side_by_side(
    table: pd.DataFrame, names: tuple[str, str] = ("A: your answers", "B: with the changes")
) -> dict:
    """Each cause state in scenario A and B as two bars side by side, with a legend (``names``
    of A and B) and each bar's number; ``table`` has columns cause, A, B (as
    :func:`model.reports.explorer.compare`)."""
    long = table.melt(id_vars=["cause"], value_vars=["A", "B"], var_name="scenario")
    long = _wrapped(long, "cause")
    long["shown"] = [f"{v:.2f}" for v in long["value"]]
    long["scenario"] = long["scenario"].map({"A": names[0], "B": names[1]})
    order = ["\n".join(wrap(c)) for c in table["cause"]]
    y = _label_axis("cause", order)
    offset = {"field": "scenario", "type": "nominal", "sort": [names[0]]}
    return {
        "data": {"values": _records(long)},
        "height": {"step": 2 * ROW},
        "config": CONFIG,
        "layer": [
            {
                "mark": "bar",
                "encoding": {
                    "y": y,
                    "yOffset": offset,
                    "x": {
                        "field": "value",
                        "type": "quantitative",
                        "scale": {"domain": [0, 1.12]},
                        "axis": {"values": [0, 0.25, 0.5, 0.75, 1]},
                        "title": "probability",
                    },
                    "color": {
                        "field": "scenario",
                        "type": "nominal",
                        "scale": {"domain": list(names), "range": [A_COLOUR, B_COLOUR]},
                        "legend": {"orient": "top", "title": None},
                    },
                    "tooltip": [
                        {"field": "cause"},
                        {"field": "scenario"},
                        {"field": "value", "format": ".3f", "title": "probability"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "color": "#000000"},
                "encoding": {
                    "y": y,
                    "yOffset": offset,
                    "x": {"field": "value", "type": "quantitative"},
                    "text": {"field": "shown"},
                },
            },
        ],
    }


def neighbourhood_chart(nodes: pd.DataFrame, links: pd.DataFrame) -> dict:
    """A cause with what raises it (left) and what it makes likelier (right).

    ``nodes``: column (0, 1, 2), row, text, value (probability of the abnormal state, or the
    change), how (answered / set by intervention / not answered). ``links``: x, y, x2, y2.
    The text says the state and the number; the shape says answered or not; the shade is a
    third cue, with its legend.
    """
    height = ROW * max(3, int(nodes["row"].max()) + 1)
    x = {"field": "column", "type": "quantitative", "scale": {"domain": [-1.6, 3.6]}, "axis": None}
    y = {"field": "row", "type": "quantitative", "axis": None, "scale": {"reverse": True}}
    return {
        "height": height,
        "config": CONFIG,
        "datasets": {"nodes": _records(nodes), "links": _records(links)},
        "layer": [
            _link_layer(x, y),
            {
                "data": {"name": "nodes"},
                "layer": [_node_layer(x, y), *_node_text_layers(x, y)],
            },
        ],
    }


def _link_layer(x: dict, y: dict) -> dict:
    """The links as grey rules from (x, y) to (x2, y2), on the nodes' scales."""
    return {
        "data": {"name": "links"},
        "mark": {"type": "rule", "color": "#9e9e9e"},
        "encoding": {
            "x": {**x, "field": "x"},
            "y": {**y, "field": "y"},
            "x2": {"field": "x2"},
            "y2": {"field": "y2"},
        },
    }


def _node_layer(x: dict, y: dict) -> dict:
    """The nodes as points: shaded by value, shaped by how the node was given, both with legends."""
    return {
        "mark": {"type": "point", "filled": True, "size": 260, "stroke": "#000000"},
        "encoding": {
            "x": x,
            "y": y,
            "color": {
                "field": "value",
                "type": "quantitative",
                "scale": {"domain": [0, 1], "range": ["#ffffff", RED]},
                "title": "probability",
                "legend": {"orient": "top", "gradientLength": 160},
            },
            "shape": {
                "field": "how",
                "type": "nominal",
                "scale": {
                    "domain": ["answered", "set in B", "not answered"],
                    "range": ["square", "diamond", "circle"],
                },
                "title": None,
                "legend": {"orient": "top"},
            },
            "tooltip": [{"field": "text"}, {"field": "how"}],
        },
    }


def _node_text_layers(x: dict, y: dict) -> list[dict]:
    """One text layer per column, set off from its points: the cause's in bold, above it."""
    return [
        {
            "transform": [{"filter": f"datum.column == {column}"}],
            "mark": {
                "type": "text",
                "align": align,
                "dx": dx,
                "dy": -16 if column == 1 else 0,
                "fontWeight": "bold" if column == 1 else "normal",
                "color": "#000000",
            },
            "encoding": {"x": x, "y": y, "text": {"field": "text"}},
        }
        for column, align, dx in ((0, "right", -10), (1, "center", 0), (2, "left", 10))
    ]


def timeline_chart(table: pd.DataFrame) -> dict:
    """The top cause states' probability at each step of a case's timeline: a line per cause
    state, each with its own point shape and a legend (colour is never the only cue); ``table``
    as :func:`model.diagnosis.casebook.top_over_time` gives it."""
    data = table.assign(when=[str(a)[:16].replace("T", " ") for a in table["at"]])
    encoding = {
        "x": {
            "field": "step",
            "type": "ordinal",
            "title": "step of the case",
            "axis": {"labelAngle": 0},
        },
        "y": {
            "field": "p",
            "type": "quantitative",
            "scale": {"domain": [0, 1]},
            "title": "probability (the model now)",
        },
        "color": {
            "field": "cause",
            "type": "nominal",
            "legend": {"orient": "top", "title": None, "columns": 1},
        },
        "tooltip": [
            {"field": "cause"},
            {"field": "when", "title": "when (UTC)"},
            {"field": "p", "format": ".3f", "title": "probability"},
        ],
    }
    return {
        "data": {"values": _records(data)},
        "height": 260,
        "config": CONFIG,
        "layer": [
            {"mark": {"type": "line"}, "encoding": encoding},
            {
                "mark": {"type": "point", "filled": True, "size": 90},
                "encoding": {
                    **encoding,
                    "shape": dict(encoding["color"]),  # one legend: coloured shapes
                },
            },
        ],
    }
