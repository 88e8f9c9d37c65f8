"""The README's console examples show the real output of the commands.

Each ```console block starts with ``$ crampnet ...``; the rest of the block must be exactly
what that command prints (stdout, then stderr). ``UPDATE_README=1 pytest tests/test_readme.py``
rewrites the blocks from the current model.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from model.cli.crampnet import main

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"```console\n\$ (crampnet [^\n]*)\n(.*?)```", re.DOTALL)


def _run(command: str, capsys) -> str:
    cwd = os.getcwd()
    os.chdir(README.parent)
    try:
        main(shlex.split(command)[1:])
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return out + err


def test_readme_examples_are_current(capsys):
    text = README.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 4
    if os.environ.get("UPDATE_README"):
        for command, _ in blocks:
            output = _run(command, capsys)
            text = text.replace(
                next(m.group(0) for m in BLOCK.finditer(text) if m.group(1) == command),
                f"```console\n$ {command}\n{output}```",
            )
        README.write_text(text)
        blocks = BLOCK.findall(text)
    for command, shown in blocks:
        assert _same(_run(command, capsys), shown), f"README output of `{command}` is stale"


NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def _same(got: str, shown: str) -> bool:
    """Equal text, and numbers equal to 1e-9: the last digits of a float move with the
    order of floating-point operations, not with the model."""
    if NUMBER.sub("#", got) != NUMBER.sub("#", shown):
        return False
    pairs = zip(NUMBER.findall(got), NUMBER.findall(shown), strict=True)
    return all(abs(float(a) - float(b)) <= 1e-9 for a, b in pairs)
