"""Features of a request are the same whichever way its records reach the model.

A small request of plain records goes to the features as canonical values
(:func:`parcelrisk.contract.plain_columns`), anything else as the canonical frame; the
union can also be called through scikit-learn. All give bit-identical matrices, on test
parcels and on text chosen to trip up lower-casing, whitespace and word boundaries.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from parcelrisk.contract import DECLARATION_COLUMNS, plain_columns, validate_records
from parcelrisk.features import columns, keys, text
from parcelrisk.features.columns import Columns
from parcelrisk.features.entities import DEFAULT_HISTORY
from parcelrisk.features.text import PUNCTUATION, WHITESPACE, DescriptionFeatures, normalize
from parcelrisk.model import features_of
from parcelrisk.tracking import example_input

#: Characters whose lower-casing, whitespace or word class differs between engines.
TRICKY = [
    "İ", "ı", "Σ", "ς", "ß", "ẞ", "ﬁ", "ǅ", "K", "Å", "é", "Ö", "ж", "漢", "😀", "\u0301",
    "א", "٣", "²", "\t", "\n", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2000", "\u3000",
    "\u200b", "-", ".", "#", "'", "_",
]  # fmt: skip
WORDS = [
    "gift", "GIFTS", "giftée", "sample", "spare parts", "test", "xxxx", "qwer", "bcdfg",
    "P.O. Box 7", "Suite 5", "ste 12b", "John John", "ΣΟΦΙΑ", "İstanbul", "straße",
]  # fmt: skip
TEXT_FIELDS = ("description", "recipient_name", "recipient_address", "seller_name", "seller_id",
               "recipient_zip", "carrier", "marketplace")  # fmt: skip


def _tricky_text(rng: random.Random) -> str:
    parts = [
        rng.choice(WORDS)
        if rng.random() < 0.4
        else "".join(rng.choice(TRICKY + list("abcXYZ 09")) for _ in range(rng.randint(1, 6)))
        for _ in range(rng.randint(1, 5))
    ]
    return rng.choice([" ", "", "  ", "\t"]).join(parts)


@pytest.fixture(scope="module")
def requests(split) -> list[list[dict]]:
    records = json.loads(example_input(split.test, 200).to_json(orient="records"))
    records = [{k: v for k, v in r.items() if k in DECLARATION_COLUMNS} for r in records]
    rng = random.Random(5)
    batches = []
    for i in range(120):
        batch = [dict(r) for r in rng.sample(records, rng.choice([1, 1, 2, 3, 8]))]
        if len(batch) > 1 and rng.random() < 0.5:  # the same parties twice in one request
            for name in ("seller_id", "recipient_name", "recipient_address"):
                batch[1][name] = batch[0][name]
        for j, record in enumerate(batch):
            record["parcel_id"] = f"NEW-{i}-{j}" if rng.random() < 0.7 else record["parcel_id"]
            if i % 2:
                for name in rng.sample(TEXT_FIELDS, rng.randint(1, 4)):
                    record[name] = _tricky_text(rng)
            if rng.random() < 0.3:
                record.update(hts_code=None, listed_price_usd=None, lading_port=None)
        batches.append(batch)
    return batches


def test_plain_values_and_the_frame_give_the_same_features(fitted, requests):
    union = fitted.pipeline.named_steps["features"]
    plain = 0
    for batch in requests:
        lists = plain_columns(batch)
        frame = validate_records(batch)
        expected = fitted.pipeline[:-1].transform(frame)  # scikit-learn's own path
        pd.testing.assert_frame_equal(features_of(fitted.pipeline, frame), expected)
        if lists is None:
            continue
        plain += 1
        got = features_of(fitted.pipeline, Columns.from_lists(lists))
        assert list(got.columns) == list(expected.columns) == list(union.get_feature_names_out())
        np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())  # NaN where NaN
    assert plain > 100  # the plain path was taken


def test_normalize_keeps_the_semantics_of_pandas_string_methods():
    rng = random.Random(9)
    texts = [_tricky_text(rng) for _ in range(3000)] + ["", "  ", "İSTANBUL ΣΑΣ", "a\x1cb"]
    series = pd.Series(texts, dtype="string")
    reference = (
        series.str.lower()
        .str.replace(PUNCTUATION, " ", regex=True)
        .str.replace(WHITESPACE, " ", regex=True)
        .str.strip()
    )
    assert normalize(pa.array(texts, pa.large_string())).to_pylist() == reference.tolist()
    assert normalize(series).tolist() == reference.tolist()
    # large ASCII batches too, with and without the whitespace RE2 and re read apart
    for extra in ("", "\x0b", "\x1c"):
        ascii_texts = [t for t in texts if t.isascii() and "\x0b" not in t and "\x1c" not in t]
        ascii_texts = [*ascii_texts, f"a{extra}b. C!"]
        expected = (
            pd.Series(ascii_texts, dtype="string")
            .str.lower()
            .str.replace(PUNCTUATION, " ", regex=True)
            .str.replace(WHITESPACE, " ", regex=True)
            .str.strip()
        )
        got = normalize(pa.array(ascii_texts, pa.large_string())).to_pylist()
        assert len(ascii_texts) > 100 and got == expected.tolist()


def test_heading_probabilities_do_not_depend_on_the_batch_or_the_cache(split):
    descriptions = split.train["description"].dropna().drop_duplicates().head(300).tolist()
    model = DescriptionFeatures().fit(split.train)
    together = model._heading_proba(descriptions)
    cold = DescriptionFeatures().fit(split.train)
    alone = np.vstack([cold._heading_proba([d]) for d in reversed(descriptions)])[::-1]
    np.testing.assert_array_equal(together, alone)
    attributes = dict(vars(model))
    np.testing.assert_array_equal(model._heading_proba(descriptions[:5]), together[:5])  # cached
    model.transform(split.test.head(50))
    assert vars(model).keys() == attributes.keys()  # the cache is kept beside the model
    assert all(vars(model)[k] is v for k, v in attributes.items())


def test_hashing_a_few_texts_gives_scikit_learns_matrices_bit_for_bit(split):
    from parcelrisk.features.text import hashed, heading_vectorizer, normalize_texts

    rng = random.Random(3)
    texts = split.train["description"].dropna().drop_duplicates().head(600).tolist()
    texts += [_tricky_text(rng) for _ in range(600)] + ["", " ", "a", "ab"]
    texts = normalize_texts(texts) + texts
    union = heading_vectorizer(2**18)
    parts = [vectorizer for _, vectorizer in union.transformer_list]
    for vectorizers in ([parts[0]], [parts[1]], parts):
        for i in range(0, len(texts), 5):
            ours = hashed(vectorizers, texts[i : i + 5])
            reference = vectorizers[0] if len(vectorizers) == 1 else union  # stacks its parts
            theirs = reference.transform(texts[i : i + 5]).tocsr()
            np.testing.assert_array_equal(ours.indptr, theirs.indptr)
            np.testing.assert_array_equal(ours.indices, theirs.indices)
            np.testing.assert_array_equal(ours.data.view(np.int64), theirs.data.view(np.int64))
            assert ours.shape == theirs.shape


KEY_INPUTS = (
    "seller_id", "hts_code", "origin_country", "filer_code", "recipient_address",
    "recipient_zip", "recipient_id", "recipient_name", "carrier", "lading_port",
    "export_country", "mode", "channel",
)  # fmt: skip
#: Every kind of part: the default keys, a routing field by its own name, an extra column.
KEYS = (*DEFAULT_HISTORY, ("export", "mode"), ("channel", "filer"), ("recipient", "address"))


@pytest.mark.parametrize("recipient_key", ["id", "name_address"])
def test_entity_keys_of_a_few_parcels_are_the_vectorised_keys(monkeypatch, recipient_key):
    rng = random.Random(11)

    def value(name: str) -> str | None:
        if rng.random() < 0.25:
            return None
        if name == "hts_code":
            return rng.choice(["6109100012", "8517", "", "ab", "éé漢😀x"])
        return rng.choice([_tricky_text(rng), "S1", "", " "])

    for _ in range(300):
        n = rng.choice([1, 1, 2, 3, 16])
        cols = Columns.from_lists({name: [value(name) for _ in range(n)] for name in KEY_INPUTS})
        few = keys.entity_keys(cols, recipient_key, KEYS)
        with monkeypatch.context() as patch:
            patch.setattr(keys, "FEW_KEYS", 0)
            vectorised = keys.entity_keys(Columns.from_lists(cols.lists), recipient_key, KEYS)
        assert few.keys() == vectorised.keys()
        for name, composed in vectorised.items():
            assert few[name].equals(composed), name  # values, nulls and large_string type


def test_one_parcel_has_its_features_in_a_vectorised_batch(fitted, requests, monkeypatch):
    """A parcel alone skips what only a batch needs (its own events, per-value pyarrow
    calls): it gets the row it has in a batch with a later parcel (only earlier events
    count), computed with every few-value shortcut off."""
    union = fitted.pipeline.named_steps["features"]
    checked = 0
    for batch in requests:
        parcel, other = batch[0], dict(batch[-1])
        later = pd.Timestamp(parcel["declared_at"]) + pd.Timedelta(minutes=1)
        other.update(parcel_id=f"{parcel['parcel_id']}-later", declared_at=later.isoformat())
        alone, pair = plain_columns([parcel]), plain_columns([parcel, other])
        if alone is None or pair is None:
            continue
        one = features_of(fitted.pipeline, Columns.from_lists(alone))
        with monkeypatch.context() as patch:
            for module, seam in ((columns, "FEW_LOOKUPS"), (keys, "FEW_KEYS"),
                                 (text, "FEW_DISTINCT"), (text, "FEW_HASHED")):  # fmt: skip
                patch.setattr(module, seam, 0)
            both = features_of(fitted.pipeline, Columns.from_lists(pair))
        assert list(one.columns) == list(union.get_feature_names_out())
        np.testing.assert_array_equal(
            one.to_numpy()[0].view(np.int64), both.to_numpy()[0].view(np.int64)
        )
        checked += 1
    assert checked > 100


def test_a_large_batch_gets_the_same_matrix_on_one_or_two_threads(fitted, split, monkeypatch):
    """Large batches compute the feature groups on two threads and stack them by row
    blocks; the matrix equals scikit-learn's union (one thread, its own stacking) bit for
    bit, and is the C-ordered array the frame wraps."""
    from parcelrisk.features import pipeline

    monkeypatch.setattr(pipeline, "PARALLEL_ROWS", 1000)
    test = split.test.iloc[: 2 * columns.STACK_BLOCK + 123]
    got = features_of(fitted.pipeline, test)
    pd.testing.assert_frame_equal(got, fitted.pipeline[:-1].transform(test))
    assert got.to_numpy().flags["C_CONTIGUOUS"]


def test_stack_writes_every_column_of_every_row_block():
    rng = np.random.default_rng(0)
    n = 3 * columns.STACK_BLOCK + 7
    parts = [rng.normal(size=n), rng.integers(0, 9, n), rng.random(n) < 0.5, np.full(n, np.nan)]
    for size in (1, 5, n):
        got = columns.stack([p[:size] for p in parts], size)
        assert got.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(got, np.column_stack([p[:size] for p in parts]).astype(float))
    assert columns.stack([], 4).shape == (4, 0)
