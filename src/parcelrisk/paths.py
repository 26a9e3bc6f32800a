"""The files of declarations a command reads and writes: which suffixes, and whether a file
to read is there.

Checked before anything is read (and importable without pandas): the command line runs
these checks before it imports the heavy modules or loads a model, so a wrong path is
reported at once. :mod:`parcelrisk.contract` reads and writes through the same checks.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["SUFFIXES", "check_suffix", "check_table_file"]

#: File suffixes of declaration tables (read and written).
SUFFIXES = (".parquet", ".csv")


def check_suffix(path: str | Path) -> str:
    """Return the declarations file format of ``path`` ('.parquet' or '.csv') or raise.

    Raises
    ------
    ValueError
        If the suffix is not one of :data:`SUFFIXES`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"unsupported declarations file suffix {path.suffix!r} ({path}); "
            f"use one of {', '.join(SUFFIXES)}"
        )
    return suffix


def check_table_file(path: str | Path) -> str:
    """Return the format of the table file to read at ``path`` (see :func:`check_suffix`)
    or raise.

    Raises
    ------
    ValueError
        If the suffix is not one of :data:`SUFFIXES`.
    FileNotFoundError
        If there is no file at ``path``.
    """
    path = Path(path)
    suffix = check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "declarations file not found", str(path))
    return suffix
