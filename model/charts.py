"""Vega-Lite specifications of the explorer's charts, as plain dictionaries.

Computing and drawing stay apart: :mod:`model.explorer` computes the tables, these functions
say how to draw them, and the app hands both to ``st.vega_lite_chart``. Plain specs skip
altair's schema validation, which costs more than the inference on every rerun.
"""

from __future__ import annotations

import pandas as pd

RED, BLUE = "#d6604d", "#4393c3"


def _records(table: pd.DataFrame) -> list[dict]:
    return table.to_dict(orient="records")


def causes_chart(table: pd.DataFrame) -> dict:
    """Posterior of each abnormal cause state as a bar, its interval as a whisker, the prior
    as a black tick; in the table's order (most probable first)."""
    order = list(table["cause"])
    y = {
        "field": "cause",
        "type": "nominal",
        "sort": order,
        "title": None,
        "axis": {"labelLimit": 320},
    }
    return {
        "data": {"values": _records(table)},
        "height": 26 * len(table),
        "layer": [
            {
                "mark": {"type": "bar", "color": RED},
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "posterior",
                        "type": "quantitative",
                        "scale": {"domain": [0, 1]},
                        "title": "probability",
                    },
                    "tooltip": [
                        {"field": "cause"},
                        {"field": "posterior", "format": ".3f"},
                        {"field": "low", "format": ".3f", "title": "90% low"},
                        {"field": "high", "format": ".3f", "title": "90% high"},
                        {"field": "prior", "format": ".3f"},
                    ],
                },
            },
            {
                "mark": {"type": "rule", "color": "#333333"},
                "encoding": {
                    "y": y,
                    "x": {"field": "low", "type": "quantitative"},
                    "x2": {"field": "high"},
                },
            },
            {
                "mark": {"type": "tick", "color": "black", "thickness": 2, "size": 18},
                "encoding": {"y": y, "x": {"field": "prior", "type": "quantitative"}},
            },
        ],
    }


def signed_bars(table: pd.DataFrame, value: str, label: str, title: str) -> dict:
    """Horizontal bars of a signed quantity, red when positive and blue when negative."""
    return {
        "data": {"values": _records(table)},
        "height": max(60, 26 * len(table)),
        "mark": "bar",
        "encoding": {
            "y": {"field": label, "type": "nominal", "sort": list(table[label]), "title": None},
            "x": {"field": value, "type": "quantitative", "title": title},
            "color": {
                "condition": {"test": f"datum['{value}'] > 0", "value": RED},
                "value": BLUE,
            },
            "tooltip": [{"field": label}, {"field": value, "format": "+.3f"}],
        },
    }
