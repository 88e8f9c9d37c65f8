"""Named exceptions of crampnet: the CLI prints them, the app shows them, reports record them."""

from __future__ import annotations


class CrampnetError(Exception):
    """Base class of every error crampnet raises on purpose."""


class PriorsError(CrampnetError):
    """The priors are malformed; ``problems`` lists each as ``file:line: path: message``."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in the priors:" if len(self.problems) > 1 else ""
        super().__init__("\n".join(([head] if head else []) + self.problems))


class UsageError(CrampnetError):
    """The command line or an input file is malformed."""


class EvidenceError(CrampnetError):
    """Evidence names an unknown variable or state, or is malformed."""


class UnknownVariableError(EvidenceError):
    """Evidence names a variable the network does not have."""

    def __init__(self, variable: str, suggestions: list[str]):
        self.variable = variable
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown variable {shorten(variable)}{hint}")


SHOWN_CHARS = 200  # at most this much of a bad value is quoted in a one-line error


def shorten(value: object) -> str:
    """``repr(value)``, cut to about :data:`SHOWN_CHARS` characters with its length said: a
    10 MB cell must not become a 10 MB error line."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"


class UnknownStateError(EvidenceError):
    """Evidence gives a state the variable does not have."""

    def __init__(self, variable: str, state: object, valid: list[str]):
        self.variable = variable
        self.state = state
        self.valid = valid
        super().__init__(
            f"unknown state {shorten(state)} for {variable!r}; valid states: {', '.join(valid)}"
        )


class ImpossibleEvidenceError(EvidenceError):
    """The answers together have probability zero under the model."""

    def __init__(self, conflict: dict[str, object]):
        self.conflict = conflict
        listed = ", ".join(f"{k}={v}" for k, v in conflict.items())
        super().__init__(
            f"these answers cannot all be true under the model: {listed}; change one of them"
        )


class NetworkTooLargeError(CrampnetError):
    """Exact inference on this network (or this query's part of it) needs a table bigger than
    the engine's memory limit: refused before anything is allocated."""

    def __init__(self, needed: int, limit: int, clique: tuple[str, ...] = ()):
        self.needed, self.limit, self.clique = needed, limit, tuple(clique)
        over = f" (over {', '.join(self.clique[:8])}{', ...' if len(self.clique) > 8 else ''})"
        super().__init__(
            f"this network's largest clique needs {_bytes(needed)}{over if clique else ''}; "
            f"the limit is {_bytes(limit)}: raise Engine(max_clique_bytes=...) or simplify "
            "the network"
        )


def _bytes(n: int) -> str:
    """A byte count in words: ``3.2 GB``."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
