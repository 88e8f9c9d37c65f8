"""Writing an output file whole: through a unique temporary file beside it, then a rename.

Shared by ``crampnet score`` (streamed chunk by chunk into the temporary file) and ``crampnet
report`` (one write). Two runs never share a temporary name, the final rename stays on one
file system, and an interrupted run (Ctrl-C, SIGTERM) leaves no half-written file, because
the caller's ``finally`` removes the temporary one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from model.errors import UsageError


def partial_file(output: Path) -> Path:
    """A new, empty, uniquely named file beside ``output``, or one :class:`UsageError` line
    saying why ``output`` cannot be written there."""
    folder = output.parent
    if output.is_dir():
        raise UsageError(f"{output}: is a folder; name a file to write")
    if not folder.is_dir():
        raise UsageError(f"{output}: the folder {folder} does not exist")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write in {folder}: {exc.strerror or exc}") from None
    os.close(handle)
    return Path(name)


def finish(partial: Path, output: Path) -> None:
    """Move the written ``partial`` file to ``output`` (one :class:`UsageError` line if not)."""
    try:
        os.replace(partial, output)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write it: {exc.strerror or exc}") from None


def write_whole(output: Path, data: bytes) -> None:
    """``data`` to ``output`` all at once: never half a file, whatever interrupts it."""
    partial = partial_file(output)
    try:
        partial.write_bytes(data)
        finish(partial, output)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write it: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
