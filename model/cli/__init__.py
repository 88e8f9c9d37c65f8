"""The ``crampnet`` command: the parser and dispatch in :mod:`model.cli.crampnet`, each command
group in a module of its own (score, report, sensitivity, evaluate, learn)."""

from model.cli.crampnet import main

__all__ = ["main"]
