"""Exported models: a versioned directory loadable without an MLflow server.

A model directory holds ``model.joblib`` (the fitted pipeline: features, booster,
calibration and the feature state learned up to the training cut-off) and
``metadata.json`` (version, training window, metrics, contract version, code version,
and the SHA-256 of ``model.joblib``). A model trained on a table brought through a column
mapping also holds ``mapping.yaml`` (its SHA-256 and content are in the metadata too):
scoring reads records in the user's column names through it. ``SHA256SUMS`` (the format
of ``sha256sum``, written last) lists the SHA-256 of every one of those files, the
metadata included, so that no file can be edited unnoticed.

Loading checks every hash, then the versions: a model loads only into code that reads
the same major version of the declaration contract and computes the same
``FEATURES_VERSION`` of the features (the compatibility rule; anything else must be
retrained), and refuses a corrupt, edited or mismatched model with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml
from sklearn.pipeline import Pipeline

from parcelrisk import __version__
from parcelrisk.contract import CONTRACT_VERSION, ColumnMapping, mapping_from_dict
from parcelrisk.features.pipeline import FEATURES_VERSION, prepare

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
MAPPING_FILE = "mapping.yaml"
SUMS_FILE = "SHA256SUMS"


class ModelIntegrityError(RuntimeError):
    """A model directory is corrupt, incomplete or made for another contract."""


@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline with the metadata it was exported with (and its column mapping)."""

    pipeline: Pipeline
    metadata: dict[str, Any]
    path: Path
    mapping: ColumnMapping | None = None

    @property
    def version(self) -> str:
        """The model version recorded at export."""
        return str(self.metadata["version"])


def code_version() -> str:
    """Package version plus the git commit of the source tree, when there is one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(
    pipeline: Pipeline,
    directory: str | Path,
    metadata: dict[str, Any],
    mapping: ColumnMapping | None = None,
) -> Path:
    """Write the pipeline, its metadata (hashes, versions) and mapping into ``directory``."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"model directory {directory} already exists and is not empty")
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    joblib.dump(pipeline, model_path, compress=3)
    full = {
        **metadata,
        "contract_version": CONTRACT_VERSION,
        "code_version": code_version(),
        "features_version": FEATURES_VERSION,
        "model_sha256": _sha256(model_path),
    }
    if mapping is not None:
        text = yaml.safe_dump(mapping.to_dict(), sort_keys=False, allow_unicode=True)
        (directory / MAPPING_FILE).write_text(text, encoding="utf-8")
        full["mapping"] = mapping.to_dict()
        full["mapping_sha256"] = _sha256(directory / MAPPING_FILE)
    (directory / METADATA_FILE).write_text(json.dumps(full, indent=2, default=str) + "\n")
    files = [MODEL_FILE, METADATA_FILE] + ([MAPPING_FILE] if mapping is not None else [])
    sums = "".join(f"{_sha256(directory / name)}  {name}\n" for name in files)
    (directory / SUMS_FILE).write_text(sums)
    return directory


def check_sums(directory: str | Path) -> None:
    """Check every file ``SHA256SUMS`` lists against its SHA-256 (the metadata among them).

    Raises
    ------
    ModelIntegrityError
        If the list is missing or malformed, does not cover the model and its metadata,
        or a file is missing or does not match.
    """
    directory = Path(directory)
    path = directory / SUMS_FILE
    if not path.is_file():
        raise ModelIntegrityError(f"{directory} has no {SUMS_FILE}: it was not exported by "
                                  "this version of parcelrisk; retrain it")  # fmt: skip
    listed: dict[str, str] = {}
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or "/" in name or name in ("", ".", ".."):
            raise ModelIntegrityError(f"{path} line {n} is not '<sha256>  <file name>'")
        listed[name] = digest
    for needed in (MODEL_FILE, METADATA_FILE):
        if needed not in listed:
            raise ModelIntegrityError(f"{path} does not list {needed}")
    for name, digest in listed.items():
        if not (directory / name).is_file():
            raise ModelIntegrityError(f"{directory} has no {name}, which {SUMS_FILE} lists")
        actual = _sha256(directory / name)
        if actual != digest:
            raise ModelIntegrityError(
                f"{directory / name} is corrupt or was changed: SHA-256 {actual} does not "
                f"match {digest} in {SUMS_FILE}"
            )


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The metadata of a model directory, without loading the model."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise ModelIntegrityError(f"{directory} is not a model directory: {METADATA_FILE} missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ModelIntegrityError(f"{path} is not valid JSON: {err}") from err


def load_model(directory: str | Path) -> LoadedModel:
    """Load an exported model after checking its hash and contract version.

    Raises
    ------
    ModelIntegrityError
        If a file is missing, any file does not match its recorded SHA-256
        (:func:`check_sums`), the model file cannot be loaded as a pipeline, or the model
        was made for another major version of the declaration contract or by another
        version of the feature code.
    """
    directory = Path(directory)
    metadata = read_metadata(directory)
    check_sums(directory)
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ModelIntegrityError(f"{directory} has no {MODEL_FILE}")
    actual = _sha256(model_path)
    if actual != metadata.get("model_sha256"):
        raise ModelIntegrityError(
            f"{model_path} is corrupt or was changed: SHA-256 {actual} does not match "
            f"{metadata.get('model_sha256')} recorded in {METADATA_FILE}"
        )
    made_for = str(metadata.get("contract_version", "?"))
    if made_for.split(".")[0] != CONTRACT_VERSION.split(".")[0]:
        raise ModelIntegrityError(
            f"model in {directory} was made for declaration contract {made_for}; this "
            f"installation reads contract {CONTRACT_VERSION} (same major version required)"
        )
    made_with = metadata.get("features_version", 1)
    if made_with != FEATURES_VERSION:
        raise ModelIntegrityError(
            f"model in {directory} was made with feature code version {made_with} (code "
            f"{metadata.get('code_version', '?')}); this installation computes version "
            f"{FEATURES_VERSION}: retrain it with this installation"
        )
    try:  # the hashes match, yet what was hashed may not be a model: say so, whatever fails
        pipeline = joblib.load(model_path)
    except Exception as err:
        what = f"{type(err).__name__}: {str(err)[:200]}"
        raise ModelIntegrityError(
            f"{model_path} cannot be loaded ({what}): export the model again"
        ) from err
    if not isinstance(pipeline, Pipeline) or "features" not in pipeline.named_steps:
        raise ModelIntegrityError(f"{model_path} holds a {type(pipeline).__name__}, not a "
                                  "parcelrisk pipeline")  # fmt: skip
    prepare(pipeline.named_steps["features"])
    _warm_explanations(pipeline[-1])
    return LoadedModel(pipeline, metadata, directory, _load_mapping(directory, metadata))


def _warm_explanations(classifier) -> None:
    """Build the TreeSHAP tables and load the compiled margin and TreeSHAP kernels now
    (about 0.7 s from numba's cache, 2 s without it), so no scoring request pays for it."""
    if hasattr(classifier, "contributions"):
        row = np.zeros((1, classifier.n_features_in_))
        classifier.decision_function(row)
        classifier.contributions(row)


def _load_mapping(directory: Path, metadata: dict[str, Any]) -> ColumnMapping | None:
    """The model's column mapping, after checking its hash; None if it has none."""
    if "mapping_sha256" not in metadata:
        return None
    path = directory / MAPPING_FILE
    if not path.is_file():
        raise ModelIntegrityError(f"{directory} has no {MAPPING_FILE}, which its metadata records")
    actual = _sha256(path)
    if actual != metadata["mapping_sha256"]:
        raise ModelIntegrityError(
            f"{path} is corrupt or was changed: SHA-256 {actual} does not match "
            f"{metadata['mapping_sha256']} recorded in {METADATA_FILE}"
        )
    return mapping_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def latest_model(models_dir: Path) -> Path:
    """The newest model directory under ``models_dir`` (names sort by time)."""
    candidates = sorted(p.parent for p in Path(models_dir).glob(f"parcelrisk-*/{METADATA_FILE}"))
    if not candidates:
        raise FileNotFoundError(f"no exported model under {models_dir}; run `parcelrisk train`")
    return candidates[-1]


def find_model(models_dir: str | Path, version: str) -> Path:
    """The model directory under ``models_dir`` whose metadata records ``version``."""
    for meta in sorted(Path(models_dir).glob(f"*/{METADATA_FILE}")):
        if str(read_metadata(meta.parent).get("version")) == str(version):
            return meta.parent
    raise FileNotFoundError(f"no model with version {version!r} under {models_dir}")
