"""Where files are: the declarations a command reads and writes, and what ships with the
code.

The declaration files are checked before anything is read (and importable without pandas):
the command line runs these checks before it imports the heavy modules or loads a model,
so a wrong path is reported at once. :mod:`parcelrisk.contract` reads and writes through
the same checks.

What ships with the code (a bento's model and policy) is found from the code
(:data:`BESIDE_CODE`), never from the working directory, which BentoML changes between its
processes: ``bentoml serve`` runs the service's start-up check in the directory it was
started in, and the workers in the bento.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["BESIDE_CODE", "SUFFIXES", "check_suffix", "check_table_file"]

#: The directory that holds the ``parcelrisk`` package. A bento built by ``make bento``
#: carries its model (``models/``) and its policy (``configs/``) there, beside its code; a
#: source tree (``src/``) or an installed package has neither there.
BESIDE_CODE = Path(__file__).resolve().parents[1]
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
