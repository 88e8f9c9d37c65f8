"""Case files: one case as JSON (``crampnet diagnose``, ``report``) and, for many cases, tables.

A case file is ``{"evidence": {id: state}, "soft_evidence": {...}, "do": {...}}`` (the last two
optional). Errors name the file and the line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from model.errors import UsageError


def line_of(text: str, key: str) -> int | None:
    """The 1-based line on which ``"key":`` first appears in a JSON text, if it does."""
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def read_case(path: str | Path) -> tuple[dict, dict, dict, str]:
    """Read a case file ``{"evidence": {...}, "soft_evidence": {...}, "do": {...}}`` (the last
    two optional); returns evidence, soft evidence, interventions and the file's text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        case = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(case, dict):
        raise UsageError(f"{path}: a case is a JSON object with 'evidence' (and 'soft_evidence')")
    unknown = sorted(set(case) - {"evidence", "soft_evidence", "do", "id", "title", "expect"})
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)}; expected evidence")
    for key in ("evidence", "soft_evidence", "do"):
        if not isinstance(case.get(key, {}), dict):
            raise UsageError(f"{path}:{line_of(text, key) or 1}: {key} must be a JSON object")
    return case.get("evidence", {}), case.get("soft_evidence", {}), case.get("do", {}), text
