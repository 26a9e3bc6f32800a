"""Seller and recipient cues that need no history: account age, name and address shape."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from parcelrisk.features.text import _normalize_unique, per_unique

#: Words that stand in for a real consignee name.
_PLACEHOLDER = (
    r"\b(?:test|customer|buyer|receiver|recipient|occupant|resident|friend|n a|na|none|"
    r"no name|doe|unknown|xxx+|ltd co)\b"
)
_KEYBOARD = r"(?:qwer|asdf|zxcv|hjkl|uiop|mnbv)"
_TRIPLE = re.compile(r"([a-z])\1\1")
_UNIT = r"(?i)\b(?:ste|suite|unit|bay|dock|#)\s*[\w-]+"


class PartyFeatures(TransformerMixin, BaseEstimator):
    """Seller account age and recipient name and address cues."""

    def fit(self, X: pd.DataFrame, y=None) -> PartyFeatures:
        """Nothing to learn; kept for the transformer interface."""
        self.fitted_ = True
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Party features, one row per parcel."""
        check_is_fitted(self, "fitted_")
        # a missing name or address has no shape: its cues are missing, not "short"
        names = per_unique(X["recipient_name"], _name_cues)
        names[X["recipient_name"].isna().to_numpy()] = np.nan
        addresses = per_unique(X["recipient_address"], _address_cues)
        addresses[X["recipient_address"].isna().to_numpy()] = np.nan
        age = pd.DataFrame(
            {"seller_account_age_days": X["seller_account_age_days"].to_numpy(dtype=float)},
            index=X.index,
        )
        return pd.concat([age, names, addresses], axis=1)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the features :meth:`transform` returns."""
        return np.asarray(
            ["seller_account_age_days", "name_n_tokens", "name_vowel_share",
             "name_repeated_letters", "name_placeholder", "name_same_first_last",
             "address_po_box", "address_unit"],
            dtype=object,
        )  # fmt: skip


def placeholder_name(name: pd.Series) -> pd.Series:
    """Whether a normalised name looks fictitious: a placeholder word, keyboard run or stub."""
    return (
        name.str.contains(_PLACEHOLDER, regex=True)
        | name.str.contains(_KEYBOARD, regex=True)
        | (name.str.len() < 3)
    )


def _name_cues(raw: pd.Series) -> pd.DataFrame:
    name = _normalize_unique(raw)
    letters = name.str.count(r"[a-z]").clip(lower=1)
    tokens = name.str.split(" ")
    return pd.DataFrame(
        {
            "name_n_tokens": (name.str.count(" ") + (name.str.len() > 0)).to_numpy(float),
            "name_vowel_share": (name.str.count(r"[aeiou]") / letters).to_numpy(float),
            "name_repeated_letters": name.map(lambda n: bool(_TRIPLE.search(n))).to_numpy(float),
            "name_placeholder": placeholder_name(name).to_numpy(float),
            "name_same_first_last": (
                (tokens.str[0] == tokens.str[-1]) & (name.str.count(" ") > 0)
            ).to_numpy(float),
        }
    )


def _address_cues(address: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "address_po_box": address.str.contains(
                r"(?i)\bp\.?\s*o\.?\s*box\b", regex=True
            ).to_numpy(float),
            "address_unit": address.str.contains(_UNIT, regex=True).to_numpy(float),
        }
    )
