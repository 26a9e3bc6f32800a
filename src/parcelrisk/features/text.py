"""Commodity description features: wording cues and description-vs-HTS consistency.

The consistency score comes from a text classifier that reads a description (hashed word
and character n-grams) and predicts the HTS heading. It learns from declarations alone,
never from outcomes: a description that does not read like its declared heading gets a
low probability for that heading.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from numbers import Integral

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, make_union
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted, check_scalar

from parcelrisk.features.base import FeatureTransformer, check_strings, validate_declarations
from parcelrisk.features.cache import DerivedCache
from parcelrisk.features.columns import Columns, index_of, text_array
from parcelrisk.features.groups import DESCRIPTION, FeatureSpec

#: Vague terms officers name for low-value parcels.
DEFAULT_VAGUE_TERMS = (
    "gift", "gifts", "sample", "samples", "goods", "daily necessities", "accessories",
    "parts", "spare parts", "consolidated", "household items", "personal items",
    "general merchandise", "merchandise", "items", "stuff", "products",
)  # fmt: skip

#: What normalisation removes (runs of punctuation) and collapses (runs of whitespace).
PUNCTUATION = re.compile(r"[^\w\s]+")
WHITESPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[A-Za-z]")
_UPPER = re.compile(r"[A-Z]")
#: Up to this many values, :func:`distinct` numbers them in Python, a twin of pyarrow's
#: dictionary encoding (bit-equal by test_feature_paths): measured 0.16 ms less per
#: one-parcel request. Set to 0 to use pyarrow always.
FEW_DISTINCT = 16
#: Up to this many texts, :func:`hashed` hashes them itself, a twin of scikit-learn's
#: vectorizers (bit-equal by test_feature_paths): measured 0.68 ms less per one-parcel
#: request with an unseen description. Set to 0 to use scikit-learn always.
FEW_HASHED = 16
#: Most bytes of (normalised) descriptions and their heading probabilities a fitted model
#: keeps at hand (texts and arrays counted whole: about 30,000 typical descriptions);
#: bounded in bytes, so that long texts cannot make it grow without limit.
PROBA_CACHE_BYTES = 32 * 2**20


class _Seen(dict):
    """Heading probabilities by text, and the bytes they take (``nbytes``)."""

    nbytes = 0


#: Heading probabilities of recently seen (normalised) texts, per fitted classifier.
_SEEN: DerivedCache[_Seen] = DerivedCache(lambda _: _Seen())


def _entry_bytes(text: str, row: np.ndarray) -> int:
    """What a cached text and its probabilities take: the string, the values, the array
    object and the dictionary's slot."""
    return sys.getsizeof(text) + row.nbytes + 192


def word_pattern(terms) -> str:
    """Regex matching any of ``terms`` as whole words (longest first)."""
    ordered = sorted(terms, key=len, reverse=True)
    return r"\b(?:" + "|".join(re.escape(t) for t in ordered) + r")\b"


def distinct(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes of a text column into its distinct values, and those values (missing as '').

    Values are numbered in order of first appearance.
    """
    if len(values) <= FEW_DISTINCT:
        index: dict[str, int] = {}
        codes = [index.setdefault("" if v is None else v, len(index)) for v in values.to_pylist()]
        return np.array(codes, dtype=np.intp), list(index)
    encoded = pc.dictionary_encode(pc.fill_null(values, ""))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    return codes, encoded.dictionary.to_pylist()


def per_unique(values: pa.Array, func: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Apply ``func`` once per distinct value and spread the result back to every row.

    Declarations repeat descriptions, names and addresses a great deal, so text work
    done per distinct value is much cheaper than per row. Missing values become ''.
    ``func`` takes the distinct values and returns an array with one row per value.
    """
    codes, uniques = distinct(values)
    return np.asarray(func(uniques))[codes]


def normalize_texts(texts: list[str]) -> list[str]:
    """Texts lower-cased, punctuation removed, whitespace collapsed and trimmed, as
    pandas' string methods do it (:func:`normalize` of each)."""
    # lower-casing and trimming as pyarrow does them (pandas' string methods use it)
    lowered = pc.utf8_lower(pa.array(texts, pa.large_string())).to_pylist()
    spaced = [WHITESPACE.sub(" ", PUNCTUATION.sub(" ", t)) for t in lowered]
    return pc.utf8_trim_whitespace(pa.array(spaced, pa.large_string())).to_pylist()


def normalize(text: pa.Array | pd.Series) -> pa.Array | pd.Series:
    """Lower-case, punctuation removed, whitespace collapsed (for matching, not display).

    Missing values become ''. A pandas Series gives a string Series with the same index.
    """
    if isinstance(text, pd.Series):
        normalized = normalize(text_array(text)).to_pylist()
        return pd.Series(normalized, index=text.index, dtype="string")
    codes, uniques = distinct(pc.fill_null(text, ""))
    return pa.array(normalize_texts(uniques), pa.large_string()).take(codes)


def hashed(vectorizers: Sequence[HashingVectorizer], texts: list[str]) -> sparse.csr_matrix:
    """The vectorizers' matrices of ``texts`` side by side: ``hstack([v.transform(texts)
    for v in vectorizers])``. For a few texts computed here as one matrix, without the
    per-call checks and the stacking that cost far more than hashing them (the same
    matrix, bit for bit: per vectorizer, counts of hashed n-grams in sorted columns, each
    row's part divided by its l2 norm).
    """
    plain = all(
        not v.alternate_sign and v.norm == "l2" and not v.binary and v.dtype == np.float64
        for v in vectorizers
    )
    if len(texts) > FEW_HASHED or not plain:
        return sparse.hstack([v.transform(texts) for v in vectorizers]).tocsr()
    analyzers = [(v.build_analyzer(), v.n_features) for v in vectorizers]
    indptr, indices, data = [0], [], []
    for text in texts:
        offset = 0
        for analyze, n in analyzers:
            counts = Counter(_bucket(gram, n) for gram in analyze(text))
            columns = sorted(counts)
            norm = math.sqrt(float(sum(counts[c] * counts[c] for c in columns)))
            indices += [offset + c for c in columns]
            data += [counts[c] / norm for c in columns]
            offset += n
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.array(data, dtype=np.float64), np.array(indices, dtype=np.int32), indptr),
        shape=(len(texts), sum(n for _, n in analyzers)),
    )


def _bucket(gram: str, n_features: int) -> int:
    """The column a hashed n-gram lands in, as scikit-learn's FeatureHasher puts it."""
    h = murmurhash3_32(gram, seed=0)
    if h == -(2**31):  # abs() of it overflows in int32; scikit-learn defines it so
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(h) % n_features


def heading(cols: Columns) -> pa.Array:
    """The HTS heading (first four digits) of each parcel; null where no code is given."""
    return pc.utf8_slice_codeunits(cols.text("hts_code"), 0, 4)


def count_matches(pattern: re.Pattern, texts: list[str]) -> np.ndarray:
    """Non-overlapping matches of ``pattern`` in each text, as floats."""
    return np.array([len(pattern.findall(t)) for t in texts], dtype=float)


def contains(pattern: re.Pattern, texts: list[str]) -> np.ndarray:
    """Whether ``pattern`` occurs in each text."""
    return np.array([pattern.search(t) is not None for t in texts], dtype=bool)


def heading_vectorizer(n_features: int) -> FeatureUnion:
    """The hashed word 1-2-grams and character 3-4-grams the heading classifier reads."""
    return make_union(
        HashingVectorizer(
            n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm="l2"
        ),
        HashingVectorizer(
            n_features=n_features, analyzer="char_wb", ngram_range=(3, 4),
            alternate_sign=False, norm="l2",
        ),
    )  # fmt: skip


class DescriptionFeatures(FeatureTransformer):
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

    PART = "description"
    FEATURES = tuple(
        FeatureSpec(name, DESCRIPTION)
        for name in ("desc_n_chars", "desc_n_words", "desc_upper_share", "desc_vague_term",
                     "desc_hts_consistency", "desc_hts_top_prob")
    )  # fmt: skip

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
        check_strings(self.vague_terms, "vague_terms")
        check_scalar(self.n_features, "n_features", Integral, min_val=2)
        check_scalar(self.max_train_rows, "max_train_rows", Integral, min_val=100)
        validate_declarations(self, X)
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
        self.vectorizer_ = heading_vectorizer(self.n_features)
        self.classifier_ = None  # stays None when no declaration gives both
        if not counts.empty:
            nb = MultinomialNB(alpha=0.05).fit(
                self.vectorizer_.transform(normalize_texts(counts["text"].tolist())),
                counts["heading"].to_numpy(dtype=object),
                sample_weight=counts["n"].to_numpy(dtype=float),
            )
            # keep only what prediction needs, laid out for a fast sparse @ dense product
            # (scikit-learn's predict copies the transposed table on every call)
            self.classifier_ = {
                "classes": pd.Index(nb.classes_),  # the headings, looked up by index_of
                "log_prior": nb.class_log_prior_,
                "log_prob_t": np.ascontiguousarray(nb.feature_log_prob_.T),
            }
        return self

    def transform_columns(self, cols: Columns) -> dict[str, np.ndarray]:
        """:meth:`transform` on :class:`Columns`, as named arrays."""
        check_is_fitted(self, "classifier_")
        description = cols.text("description")
        codes, uniques = distinct(description)
        cues = self._cues(uniques)
        proba = cues.pop("_proba")
        out = {k: v[codes] for k, v in cues.items()}
        if proba is None:
            out["desc_hts_consistency"] = np.full(cols.n, np.nan)
            out["desc_hts_top_prob"] = np.full(cols.n, np.nan)
        else:
            declared = index_of(self.classifier_["classes"], heading(cols))
            p_declared = proba[codes, np.maximum(declared, 0)]
            consistency = np.where(declared >= 0, p_declared, 0.0)
            consistency[cols.missing("hts_code")] = np.nan
            out["desc_hts_consistency"] = consistency
            out["desc_hts_top_prob"] = proba.max(axis=1)[codes]
        # no description, nothing to read: missing features, not those of an empty text
        unread = description.is_null().to_numpy(zero_copy_only=False)
        return {k: np.where(unread, np.nan, v) for k, v in out.items()}

    def _cues(self, raw: list[str]) -> dict[str, np.ndarray]:
        """Features of distinct descriptions (and the heading probabilities as ``_proba``)."""
        text = normalize_texts(raw)
        pattern = re.compile(self.vague_pattern_)
        letters = np.maximum(count_matches(_LETTER, raw), 1)
        return {
            "desc_n_chars": np.array([len(r) for r in raw], dtype=float),
            "desc_n_words": np.array([t.count(" ") + (len(t) > 0) for t in text], dtype=float),
            "desc_upper_share": count_matches(_UPPER, raw) / letters,
            "desc_vague_term": contains(pattern, text).astype(float),
            "_proba": None if self.classifier_ is None else self._heading_proba(text),
        }

    def _heading_proba(self, text: list[str]) -> np.ndarray:
        """Naive Bayes probability of every HTS heading for each (normalised) text.

        A text's probabilities do not depend on the other texts, so those of recently seen
        texts are kept (at most ``PROBA_CACHE_BYTES``, beside the fitted classifier, not on
        it) and only new texts are computed.
        """
        if not text:
            return self._compute_proba(text)
        cache = _SEEN.get(self.classifier_["log_prob_t"])
        # read from a local copy: another thread may clear the cache meanwhile
        rows = {t: cache.get(t) for t in text}
        new = [t for t, row in rows.items() if row is None]
        if new:
            computed = dict(zip(new, self._compute_proba(new), strict=True))
            rows.update(computed)
            size = sum(_entry_bytes(t, row) for t, row in computed.items())
            if cache.nbytes + size > PROBA_CACHE_BYTES:
                cache.clear()
                cache.nbytes = 0
            if size <= PROBA_CACHE_BYTES:
                cache.update(computed)
                cache.nbytes += size
        return np.vstack([rows[t] for t in text])

    def _compute_proba(self, text: list[str]) -> np.ndarray:
        # the union's parts called directly: what its transform does, without joblib
        vectorizers = [vectorizer for _, vectorizer in self.vectorizer_.transformer_list]
        jll = np.asarray(hashed(vectorizers, text) @ self.classifier_["log_prob_t"])
        jll += self.classifier_["log_prior"]
        jll -= jll.max(axis=1, keepdims=True)
        proba = np.exp(jll)
        return proba / proba.sum(axis=1, keepdims=True)
