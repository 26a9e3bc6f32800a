"""Exported models: a versioned directory loadable without an MLflow server.

A model directory holds ``model.joblib`` (the fitted pipeline: features, booster,
calibration and the feature state learned up to the training cut-off) and
``metadata.json`` (version, training window, metrics, contract version, code version,
and the SHA-256 of ``model.joblib``). Loading checks the hash and the contract version
and refuses a corrupt or mismatched model with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
from sklearn.pipeline import Pipeline

from parcelrisk import __version__
from parcelrisk.schema import CONTRACT_VERSION

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


class ModelIntegrityError(RuntimeError):
    """A model directory is corrupt, incomplete or made for another contract."""


@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline with the metadata it was exported with."""

    pipeline: Pipeline
    metadata: dict[str, Any]
    path: Path

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


def save_model(pipeline: Pipeline, directory: str | Path, metadata: dict[str, Any]) -> Path:
    """Write the pipeline and its metadata (with hash and versions) into ``directory``."""
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
        "model_sha256": _sha256(model_path),
    }
    (directory / METADATA_FILE).write_text(json.dumps(full, indent=2, default=str) + "\n")
    return directory


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
        If a file is missing, the model file does not match its recorded SHA-256, or the
        model was made for another major version of the declaration contract.
    """
    directory = Path(directory)
    metadata = read_metadata(directory)
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
    return LoadedModel(joblib.load(model_path), metadata, directory)


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
