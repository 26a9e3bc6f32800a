"""Commodity description features: wording cues and description-vs-HTS consistency.

The consistency score comes from a text classifier that reads a description (hashed word
and character n-grams) and predicts the HTS heading. It learns from declarations alone,
never from outcomes: a description that does not read like its declared heading gets a
low probability for that heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_union
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

#: Vague terms officers name for low-value parcels.
DEFAULT_VAGUE_TERMS = (
    "gift", "gifts", "sample", "samples", "goods", "daily necessities", "accessories",
    "parts", "spare parts", "consolidated", "household items", "personal items",
    "general merchandise", "merchandise", "items", "stuff", "products",
)  # fmt: skip

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def word_pattern(terms) -> str:
    """Regex matching any of ``terms`` as whole words (longest first)."""
    ordered = sorted(terms, key=len, reverse=True)
    return r"\b(?:" + "|".join(re.escape(t) for t in ordered) + r")\b"


def per_unique(values: pd.Series, func: Callable[[pd.Series], pd.DataFrame | pd.Series]):
    """Apply ``func`` once per distinct value and spread the result back to every row.

    Declarations repeat descriptions, names and addresses a great deal, so text work
    done per distinct value is much cheaper than per row. Missing values become ''.
    """
    codes, uniques = pd.factorize(values.astype("string").fillna(""), sort=False)
    result = func(pd.Series(uniques, dtype="string"))
    return result.iloc[codes].set_axis(values.index)


def _normalize_unique(s: pd.Series) -> pd.Series:
    s = s.str.lower().str.replace(_PUNCT, " ", regex=True).str.replace(_SPACE, " ", regex=True)
    return s.str.strip()


def normalize(text: pd.Series) -> pd.Series:
    """Lower-case, punctuation removed, whitespace collapsed (for matching, not display)."""
    return per_unique(text, _normalize_unique)


def _vectorizer(n_features: int):
    return make_union(
        HashingVectorizer(
            n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm="l2"
        ),
        HashingVectorizer(
            n_features=n_features, analyzer="char_wb", ngram_range=(3, 4),
            alternate_sign=False, norm="l2",
        ),
    )  # fmt: skip


class DescriptionFeatures(TransformerMixin, BaseEstimator):
    """Wording cues of the description and how well it matches the declared HTS heading.

    Parameters
    ----------
    vague_terms
        Terms whose presence marks a vague description (matched as whole words).
    n_features
        Hash buckets per n-gram kind of the consistency classifier.
    max_train_rows
        Most frequent distinct (description, heading) pairs the classifier learns from.
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn convention)
        "vague_terms": [tuple, list],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "max_train_rows": [Interval(Integral, 100, None, closed="left")],
    }

    def __init__(
        self,
        vague_terms=DEFAULT_VAGUE_TERMS,
        n_features: int = 2**18,
        max_train_rows: int = 200_000,
    ):
        self.vague_terms = vague_terms
        self.n_features = n_features
        self.max_train_rows = max_train_rows

    def fit(self, X: pd.DataFrame, y=None) -> DescriptionFeatures:
        """Train the description -> HTS heading classifier on declarations giving both."""
        self._validate_params()
        pairs = pd.DataFrame(
            {
                "text": X["description"].astype("string"),
                "heading": X["hts_code"].astype("string").str[:4],
            }
        ).dropna()
        # train once per distinct (description, heading) pair, weighted by its count
        counts = pairs.value_counts().reset_index(name="n")
        if len(counts) > self.max_train_rows:
            counts = counts.nlargest(self.max_train_rows, "n")
        self.vague_pattern_ = word_pattern(self.vague_terms)
        self.vectorizer_ = _vectorizer(self.n_features)
        self.classifier_ = None  # stays None when no declaration gives both
        if not counts.empty:
            nb = MultinomialNB(alpha=0.05).fit(
                self.vectorizer_.transform(_normalize_unique(counts["text"])),
                counts["heading"].to_numpy(dtype=object),
                sample_weight=counts["n"].to_numpy(dtype=float),
            )
            # keep only what prediction needs, laid out for a fast sparse @ dense product
            # (scikit-learn's predict copies the transposed table on every call)
            self.classifier_ = {
                "classes": nb.classes_,
                "log_prior": nb.class_log_prior_,
                "log_prob_t": np.ascontiguousarray(nb.feature_log_prob_.T),
            }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Wording cues and consistency features, one row per parcel."""
        check_is_fitted(self, "classifier_")
        codes, uniques = pd.factorize(X["description"].astype("string").fillna(""))
        cues = self._cues(pd.Series(uniques, dtype="string"))
        proba = cues.pop("_proba")
        out = pd.DataFrame({k: v[codes] for k, v in cues.items()}, index=X.index)
        if proba is None:
            out["desc_hts_consistency"] = out["desc_hts_top_prob"] = np.nan
        else:
            classes = pd.Index(self.classifier_["classes"])
            declared = classes.get_indexer(X["hts_code"].astype("string").str[:4])
            p_declared = proba[codes, np.maximum(declared, 0)]
            out["desc_hts_consistency"] = np.where(declared >= 0, p_declared, 0.0)
            out.loc[X["hts_code"].isna().to_numpy(), "desc_hts_consistency"] = np.nan
            out["desc_hts_top_prob"] = proba.max(axis=1)[codes]
        # no description, nothing to read: missing features, not those of an empty text
        out[X["description"].isna().to_numpy()] = np.nan
        return out

    def _cues(self, raw: pd.Series) -> dict[str, np.ndarray]:
        """Features of distinct descriptions (and the heading probabilities as ``_proba``)."""
        text = _normalize_unique(raw)
        words = text.str.count(" ") + (text.str.len() > 0)
        letters = raw.str.count(r"[A-Za-z]").clip(lower=1)
        return {
            "desc_n_chars": raw.str.len().to_numpy(dtype=float),
            "desc_n_words": words.to_numpy(dtype=float),
            "desc_upper_share": (raw.str.count(r"[A-Z]") / letters).to_numpy(dtype=float),
            "desc_vague_term": text.str.contains(self.vague_pattern_, regex=True).to_numpy(
                dtype=float
            ),
            "_proba": None if self.classifier_ is None else self._heading_proba(text),
        }

    def _heading_proba(self, text: pd.Series) -> np.ndarray:
        """Naive Bayes probability of every HTS heading for each (normalised) text."""
        jll = np.asarray(self.vectorizer_.transform(text) @ self.classifier_["log_prob_t"])
        jll += self.classifier_["log_prior"]
        jll -= jll.max(axis=1, keepdims=True)
        proba = np.exp(jll)
        return proba / proba.sum(axis=1, keepdims=True)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the features :meth:`transform` returns."""
        return np.asarray(
            [
                "desc_n_chars", "desc_n_words", "desc_upper_share", "desc_vague_term",
                "desc_hts_consistency", "desc_hts_top_prob",
            ],
            dtype=object,
        )  # fmt: skip
