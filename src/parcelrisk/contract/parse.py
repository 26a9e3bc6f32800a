"""How values given as text are read."""

from __future__ import annotations

from typing import Any

import numpy as np

NOT_UNICODE = "text is not valid Unicode: it holds an unpaired surrogate (such as a lone \\ud800)"


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (encodes as UTF-8: no unpaired surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def label_text(value: Any) -> str:
    """A yes/no value as comparable text: lower case, whole numbers without '.0'."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return str(value).strip().lower()
