"""A feature is declared once (name and input group, by the transformer that makes it): the
union's column names, the explanation groups, the reasons' evidence and the report's
group wording all come from those declarations."""

from __future__ import annotations

import hashlib
import json

import pytest

from parcelrisk.auditreport import GROUP_MEANING
from parcelrisk.explain import INPUT_GROUPS, evidence, feature_group
from parcelrisk.features.columns import Columns
from parcelrisk.features.entities import history_records
from parcelrisk.features.groups import EXTRA, GROUPS
from parcelrisk.features.pipeline import FEATURES_VERSION, PARTS, build_features, feature_spec
from parcelrisk.model import features_of


@pytest.fixture(scope="module")
def sample(split):
    return split.test.head(300)


def test_every_part_makes_its_declared_features_in_the_declared_order(fitted, sample):
    union = fitted.pipeline.named_steps["features"]
    cols = Columns.of(sample)
    for name, part in union.transformer_list:
        assert PARTS[name] is type(part) and part.PART == name
        declared = [spec.name for spec in part.feature_specs()]
        assert list(part.transform_columns(cols)) == declared
        assert list(part.get_feature_names_out()) == declared
    assert len(union.transformer_list) == len(PARTS) - 1  # no extra inputs in this model


def _declared() -> list[tuple[str, object]]:
    """(part, spec) of every feature of the default union: fixed declarations, the default
    history keys' features (named after their entities) and two extra columns."""
    union = build_features(extra_categorical=("carrier",), extra_numeric=("n",))
    return [(name, spec) for name, part in union.transformer_list
            for spec in part.feature_specs()]  # fmt: skip


def test_every_declared_feature_is_in_a_declared_input_group():
    assert list(INPUT_GROUPS) == [group.name for group in GROUPS]
    declared = _declared()
    assert {part for part, _ in declared} == set(PARTS)
    for part, spec in declared:
        assert spec.group in GROUPS, (part, spec.name)
        assert feature_spec(f"{part}__{spec.name}") == spec  # read back from its name
        assert feature_group(f"{part}__{spec.name}") == spec.group.name
    assert PARTS["extra"].spec_of("any_column").group is EXTRA
    assert feature_group("no_part_of_the_union") == feature_group("nowhere__x") == "other"


def test_a_groups_features_have_distinct_names():
    union = build_features(extra_categorical=("carrier",), extra_numeric=("n",))
    columns = [f"{name}__{spec.name}" for name, part in union.transformer_list
               for spec in part.feature_specs()]  # fmt: skip
    for group in GROUPS:
        names = [feature_spec(c).name for c in columns if feature_group(c) == group.name]
        assert names and len(names) == len(set(names)), group.name


def test_each_groups_evidence_reads_only_the_groups_own_features(fitted, sample):
    features = features_of(fitted.pipeline, sample).to_dict("records")
    parcels = sample.to_dict("records")
    for f, parcel in zip(features, parcels, strict=True):
        for group in GROUPS:
            own = {feature_spec(c).name: v for c, v in f.items() if feature_group(c) == group.name}
            text = group.evidence(own, parcel)  # a KeyError if it read any other feature
            records = history_records(own, parcel)  # the group's own entities' records
            assert "; ".join([text, *records]) == evidence(group.name, f, parcel)
            assert text or group is EXTRA  # a model without extra inputs has nothing to say
    assert evidence("other", features[0], parcels[0]) == "other"


def test_the_report_describes_each_group_as_declared():
    assert GROUP_MEANING == {group.name: group.meaning for group in GROUPS}


def test_the_features_version_moves_with_the_declared_names():
    """A model pickled with other feature names cannot transform for its booster: when the
    declared names change, raise ``FEATURES_VERSION`` and pin the new fingerprint here."""
    declared = [[part, spec.name] for part, spec in _declared()]
    fingerprint = hashlib.sha256(json.dumps(declared).encode()).hexdigest()[:16]
    assert (FEATURES_VERSION, fingerprint) == (5, "1191d29ca0e91db6")
