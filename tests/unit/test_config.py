"""Model settings: the YAML file read, and every unknown or misplaced key refused by name."""

from __future__ import annotations

import pytest
import yaml

from parcelrisk.config import load_config
from parcelrisk.model import RiskClassifier


def write(tmp_path, settings) -> str:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def test_a_lightgbm_typo_is_refused_with_the_name_it_probably_meant(tmp_path):
    path = write(tmp_path, {"lgbm": {"num_leafs": 31, "learning_rate": 0.1}})
    with pytest.raises(ValueError, match="'num_leafs' is not a LightGBM parameter; did you "
                       "mean 'num_leaves'"):  # fmt: skip
        load_config(path)


def test_lightgbm_names_and_aliases_are_taken_and_what_parcelrisk_sets_is_refused(tmp_path):
    aliases = {"min_data_in_leaf": 5, "lambda_l2": 2.0, "cat_smooth": 20.0, "max_bin": 127}
    assert load_config(write(tmp_path, {"lgbm": aliases})).lgbm == aliases
    with pytest.raises(ValueError, match="'n_jobs' is set by parcelrisk itself, not under lgbm"):
        load_config(write(tmp_path, {"lgbm": {"n_jobs": 4}}))
    with pytest.raises(ValueError, match="set random_state at the top of the config"):
        load_config(write(tmp_path, {"lgbm": {"random_state": 1}}))
    with pytest.raises(ValueError, match="lgbm must map LightGBM parameters to values"):
        load_config(write(tmp_path, {"lgbm": [1, 2]}))


def test_the_classifier_refuses_an_unknown_parameter_given_in_code_too():
    with pytest.raises(ValueError, match="lgbm_params: 'max_dept' is not a LightGBM parameter"):
        RiskClassifier(lgbm_params={"max_dept": 3}).fit([[0.0]] * 200, [0, 1] * 100)


def test_settings_that_moved_or_went_are_refused_with_where_they_went(tmp_path):
    with pytest.raises(ValueError, match="'calibration_fraction' is no longer a setting"):
        load_config(write(tmp_path, {"calibration_fraction": 0.2}))
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['test_dayz'\]"):
        load_config(write(tmp_path, {"test_dayz": 3}))
