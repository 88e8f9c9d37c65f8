"""Argument types shared by the commands: argparse calls them on the text given."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from model.errors import UsageError

SHOWN = 40  # characters of a bad value quoted back


def whole_number(minimum: int, meaning: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``, or a one-line error that
    says what was expected (``meaning``, e.g. "a positive whole number") and what was given."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {meaning}, got {text[:SHOWN]!r}")
        return value

    return parse


count = whole_number(0, "a whole number >= 0")  # --explain 0 is allowed: explain nothing
positive = whole_number(1, "a positive whole number")


def parse_pairs(items: list[str], flag: str = "--set") -> dict[str, str]:
    """``id=state`` options (``--set``, ``--do``, ``--confirmed`` ...) as a mapping, or one
    line naming the flag and the item that is not of that form."""
    pairs = {}
    for item in items:
        name, sep, state = item.partition("=")
        if not sep or not name or not state:
            raise UsageError(f"{flag} expects id=state, got {item!r}")
        pairs[name.strip()] = state.strip()
    return pairs
