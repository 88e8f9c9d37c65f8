"""The case book: cases kept in a database as timelines (:mod:`.store`), schema by Alembic."""

from model.readwrite.casebook.store import (
    Answers,
    Case,
    CaseBook,
    CaseBookError,
    CaseSummary,
    Entry,
    default_url,
    read_dump,
)

__all__ = [
    "Answers",
    "Case",
    "CaseBook",
    "CaseBookError",
    "CaseSummary",
    "Entry",
    "default_url",
    "read_dump",
]
