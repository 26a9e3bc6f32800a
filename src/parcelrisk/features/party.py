"""Seller and recipient cues that need no history: account age, name and address shape."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from parcelrisk.features.base import FeatureTransformer, validate_declarations
from parcelrisk.features.columns import Columns
from parcelrisk.features.groups import RECIPIENT, SELLER, FeatureSpec
from parcelrisk.features.text import contains, count_matches, distinct, normalize_texts

#: Words that stand in for a real consignee name.
_PLACEHOLDER = re.compile(
    r"\b(?:test|customer|buyer|receiver|recipient|occupant|resident|friend|n a|na|none|"
    r"no name|doe|unknown|xxx+|ltd co)\b"
)
_KEYBOARD = re.compile(r"(?:qwer|asdf|zxcv|hjkl|uiop|mnbv)")
_TRIPLE = re.compile(r"([a-z])\1\1")
_UNIT = re.compile(r"(?i)\b(?:ste|suite|unit|bay|dock|#)\s*[\w-]+")
_PO_BOX = re.compile(r"(?i)\bp\.?\s*o\.?\s*box\b")
_LOWER = re.compile(r"[a-z]")
_VOWEL = re.compile(r"[aeiou]")


class PartyFeatures(FeatureTransformer):
    """Seller account age and recipient name and address cues."""

    PART = "party"
    FEATURES = (
        FeatureSpec("seller_account_age_days", SELLER),
        *(FeatureSpec(name, RECIPIENT) for name in (
            "name_n_tokens", "name_vowel_share", "name_repeated_letters", "name_placeholder",
            "name_same_first_last", "address_po_box", "address_unit",
        )),
    )  # fmt: skip

    def fit(self, X: pd.DataFrame, y=None) -> PartyFeatures:
        """Nothing to learn but the input's columns (see :func:`validate_declarations`)."""
        validate_declarations(self, X)
        return self

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "n_features_in_")
        out = {"seller_account_age_days": cols.number("seller_account_age_days")}
        # a missing name or address has no shape: its cues are missing, not "short"
        for column, cues in (("recipient_name", _name_cues), ("recipient_address", _address_cues)):
            codes, uniques = distinct(cols.text(column))  # the cues of each distinct value
            missing = cols.missing(column)
            out.update(
                (name, np.where(missing, np.nan, cue[codes])) for name, cue in cues(uniques).items()
            )
        return out


def placeholder_name(names: list[str]) -> np.ndarray:
    """Whether each normalised name looks fictitious: a placeholder word, keyboard run or stub."""
    return np.array(
        [
            _PLACEHOLDER.search(n) is not None or _KEYBOARD.search(n) is not None or len(n) < 3
            for n in names
        ],
        dtype=bool,
    )


def _name_cues(raw: list[str]) -> dict[str, np.ndarray]:
    names = normalize_texts(raw)
    letters = np.maximum(count_matches(_LOWER, names), 1)
    return {
        "name_n_tokens": np.array([n.count(" ") + (len(n) > 0) for n in names], dtype=float),
        "name_vowel_share": count_matches(_VOWEL, names) / letters,
        "name_repeated_letters": contains(_TRIPLE, names).astype(float),
        "name_placeholder": placeholder_name(names).astype(float),
        "name_same_first_last": np.array(
            [n.count(" ") > 0 and n.split(" ")[0] == n.split(" ")[-1] for n in names], dtype=float
        ),
    }


def _address_cues(addresses: list[str]) -> dict[str, np.ndarray]:
    return {
        "address_po_box": contains(_PO_BOX, addresses).astype(float),
        "address_unit": contains(_UNIT, addresses).astype(float),
    }
