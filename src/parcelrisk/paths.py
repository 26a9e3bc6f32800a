"""Where files are: the declarations a command reads and writes, and what ships with the
code.

The declaration files are checked before anything is read (and importable without pandas):
the command line runs these checks before it imports the heavy modules or loads a model,
so a wrong path is reported at once. :mod:`parcelrisk.contract` reads and writes through
the same checks.

What ships with the code (a bento's model and policy) is found from the code
(:data:`BESIDE_CODE`), never from the working directory, which BentoML changes between its
processes: ``bentoml serve`` runs the service's start-up check in the directory it was
started in, and the workers in the bento. A setting that names a file by a relative path
means that directory, for the check and the workers alike (:func:`settings_made_absolute`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["AUDIT_URL_ENV", "BESIDE_CODE", "DEFAULT_AUDIT_URL", "SUFFIXES",
           "absolute_sqlite_url", "check_suffix", "check_table_file",
           "settings_made_absolute"]  # fmt: skip

#: The directory that holds the ``parcelrisk`` package. A bento built by ``make bento``
#: carries its model (``models/``) and its policy (``configs/``) there, beside its code; a
#: source tree (``src/``) or an installed package has neither there.
BESIDE_CODE = Path(__file__).resolve().parents[1]
#: File suffixes of declaration tables (read and written).
SUFFIXES = (".parquet", ".csv")
#: Environment variable naming the service's audit store (a SQLAlchemy URL), and its
#: default: ``audit.db`` in the directory ``bentoml serve`` was started in.
AUDIT_URL_ENV = "PARCELRISK_AUDIT_URL"
DEFAULT_AUDIT_URL = "sqlite:///audit.db"


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


def absolute_sqlite_url(url: str, base: Path) -> str:
    """``url`` with its SQLite file made absolute against ``base`` if it was relative; any
    other URL (an absolute SQLite file, one in memory, another database, a malformed URL,
    which the audit store reports) unchanged."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return url
    path = parsed.database
    if (parsed.get_backend_name() != "sqlite" or not path or path == ":memory:"
            or path.startswith("file:") or Path(path).is_absolute()):  # fmt: skip
        return url
    return parsed.set(database=str(base / path)).render_as_string(hide_password=False)


@contextmanager
def settings_made_absolute() -> Iterator[None]:
    """The service's settings that name a file, made absolute against the working
    directory in ``os.environ`` for the block and, if it succeeds, after it: the audit
    store (``PARCELRISK_AUDIT_URL``, else its default ``sqlite:///audit.db``), the policy
    (``PARCELRISK_POLICY``) and the model (``PARCELRISK_MODEL_DIR``); absolute ones and
    other databases stay as they are. If the block raises, the environment is restored.

    The start-up check runs inside it in BentoML's main process, where ``bentoml serve``
    was started; BentoML then starts the workers (in the bento's own directory) with this
    process's environment, so they open the store, read the policy and load the model the
    check opened, read and loaded.
    """
    from parcelrisk.policy import POLICY_ENV

    here = Path.cwd()
    names = (AUDIT_URL_ENV, POLICY_ENV, "PARCELRISK_MODEL_DIR")
    before = {name: os.environ.get(name) for name in names}
    os.environ[AUDIT_URL_ENV] = absolute_sqlite_url(
        os.environ.get(AUDIT_URL_ENV, DEFAULT_AUDIT_URL), here
    )
    for name in names[1:]:
        if value := os.environ.get(name):
            os.environ[name] = str(here / value)  # an absolute value stays as it is
    try:
        yield
    except BaseException:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        raise
