"""MLflow tracking and registry: log every training run, promote with aliases.

The store is embedded by default (``sqlite:///mlflow.db`` in the working directory, with
artifacts under ``./mlartifacts``); ``MLFLOW_TRACKING_URI`` points it at a real server.
Nothing is set at import time.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from parcelrisk.artifact import METADATA_FILE, latest_model, load_model
from parcelrisk.contract import FIELDS, Kind, to_records
from parcelrisk.paths import BESIDE_CODE
from parcelrisk.policy import load_policy
from parcelrisk.predict import decide_frame

REGISTERED_MODEL = "parcelrisk"
EXPERIMENT = "parcelrisk"
CHAMPION, CHALLENGER = "champion", "challenger"
#: ``models/`` beside the ``parcelrisk`` package (:data:`parcelrisk.paths.BESIDE_CODE`): a
#: bento built by ``make bento`` carries its model there; a source tree (``src/models``) or
#: an installed package has none.
SHIPPED_MODELS = BESIDE_CODE / "models"

#: Warnings MLflow logs on every ``log_model`` of this model, by logger: the start of the
#: message. Both are understood and safe here, so they are dropped (and nothing else):
#:
#: * the pyfunc model is a Python object, so MLflow pickles it (CloudPickle) and warns
#:   that unpickling can run code. The object is the small wrapper of
#:   :func:`_pyfunc_class`, which reads the exported directory (its hash checked by
#:   ``load_model``); loading any logged model is as safe as the store it comes from,
#:   which the warning at logging time does not change.
#: * MLflow pins pip's version in the model's conda.yaml and warns when pip is not
#:   installed (an environment made by uv has none): conda.yaml then lists pip without a
#:   version; requirements.txt and python_env.yaml, which pip and uv install from, are
#:   unaffected.
LOG_MODEL_NOISE = {
    "mlflow.pyfunc": "Passing a Python object as `python_model` causes it to be serialized "
    "using CloudPickle",
    "mlflow.utils.environment": "Failed to resolve installed pip version.",
}


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded SQLite store in the working dir."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def configure():
    """Point MLflow at the project's store (:func:`tracking_uri`) and experiment; returns
    the ``mlflow`` module."""
    import mlflow

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # its progress bar for fetching the champion to compare clutters the command's output
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines drown the CLI
    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = None
        if tracking_uri().startswith("sqlite:"):
            location = (Path.cwd() / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


@contextmanager
def dropped_records(messages: Mapping[str, str]) -> Iterator[None]:
    """Drop, while in the block, the log records of each named logger whose message starts
    with its text (see :data:`LOG_MODEL_NOISE`); every other record passes."""

    def keep(start: str) -> Callable[[logging.LogRecord], bool]:
        return lambda record: not record.getMessage().startswith(start)

    filters = [(logging.getLogger(name), keep(start)) for name, start in messages.items()]
    for logger, drop in filters:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger, drop in filters:
            logger.removeFilter(drop)


def _pyfunc_class():
    """The pyfunc wrapper class (defined lazily: importing mlflow is slow)."""
    import mlflow.pyfunc

    class _Model(mlflow.pyfunc.PythonModel):
        """Scores declarations with an exported parcelrisk model directory."""

        def load_context(self, context):
            self.model = load_model(context.artifacts["model_dir"])
            self.policy = load_policy()

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            """Probability and lane per declaration, in the model's own column names."""
            decisions = decide_frame(self.model, pd.DataFrame(model_input), self.policy,
                                     explain="none")  # fmt: skip
            return decisions[["parcel_id", "probability", "lane"]]

    return _Model


def example_input(frame: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """A few declarations as a client sends them (:func:`parcelrisk.contract.to_records`)."""
    return pd.DataFrame(to_records(frame.head(n)))


def _signature(input_example: pd.DataFrame, output: pd.DataFrame):
    """The logged model's signature: the example's columns and types, except that a
    timestamp may come as ISO 8601 text (JSON) or as a timestamp with a timezone (a frame of
    :func:`parcelrisk.contract.read_declarations`), which MLflow's datetime type refuses."""
    from mlflow.models import infer_signature
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    with warnings.catch_warnings():  # integer-column hint: quantity is never missing
        warnings.simplefilter("ignore", UserWarning)
        inferred = infer_signature(input_example, output)
    timestamps = {f.name for f in FIELDS if f.kind is Kind.TIMESTAMP}
    columns = [
        ColSpec(AnyType(), c.name, required=c.required) if c.name in timestamps else c
        for c in inferred.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(columns), outputs=inferred.outputs)


def log_run(
    *,
    model_dir: Path,
    name: str = REGISTERED_MODEL,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts: list[Path],
    input_example: pd.DataFrame | None,
    promotion_score: Callable[[Any], tuple[float, float]] | None,
) -> dict[str, Any]:
    """Log a training run, register a model version of ``name`` and set its alias.

    The new version becomes ``champion`` only if it beats the current champion on the
    same test parcels (``promotion_score(champion)`` gives the champion's score and the new
    model's, the champion's exported model loaded by
    :func:`parcelrisk.artifact.load_model`); otherwise it is
    ``challenger``. Without ``input_example`` (a model reading a user's own columns) the
    model is logged without a signature. Returns run id, version, alias and the reason.
    """
    mlflow = configure()
    from mlflow.tracking import MlflowClient

    with mlflow.start_run() as run:
        mlflow.log_params({k: v for k, v in params.items() if v is not None})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tags(tags)
        for path in artifacts:
            mlflow.log_artifact(str(path))
        output = pd.DataFrame(
            {"parcel_id": ["x"], "probability": [0.1], "lane": ["release"]}
        )  # fmt: skip
        signature = None if input_example is None else _signature(input_example, output)
        with dropped_records(LOG_MODEL_NOISE):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=_pyfunc_class()(),
                artifacts={"model_dir": str(model_dir)},
                signature=signature,
                input_example=input_example,
                registered_model_name=name,
            )
        version = str(info.registered_model_version)
    client = MlflowClient()
    alias, reason = _promote(client, name, version, promotion_score)
    client.set_registered_model_alias(name, alias, version)
    return {"run_id": run.info.run_id, "version": version, "alias": alias, "reason": reason}


class NotComparable(ValueError):
    """The champion cannot be scored honestly on the new test window (e.g. it was trained
    on all of it)."""


def _promote(client, name: str, version: str, promotion_score):
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return CHAMPION, "no champion yet"
    if promotion_score is None:
        return CHALLENGER, f"champion v{current.version} kept: no comparison data"
    try:
        champion = load_model(registered_model_dir(f"models:/{name}@{CHAMPION}"))
        old, new_score = promotion_score(champion)
    except NotComparable as err:
        return CHALLENGER, f"champion v{current.version} kept: no honest comparison: {err}"
    except Exception as err:  # e.g. a champion pickled by an older parcelrisk
        return CHALLENGER, (
            f"champion v{current.version} kept: this installation could not score it on the "
            f"test window ({type(err).__name__}: {err}); compare the two by hand and move "
            f"the '{CHAMPION}' alias if the new model is better"
        )
    if new_score > old:
        return CHAMPION, f"beats champion v{current.version}: {new_score:.4f} > {old:.4f}"
    return CHALLENGER, f"champion v{current.version} kept: {new_score:.4f} <= {old:.4f}"


def alias_version(alias: str = CHAMPION, name: str = REGISTERED_MODEL) -> str | None:
    """The registered version of ``name`` that holds ``alias``; None if none does. Reads
    the store of :func:`tracking_uri` and writes nothing to it."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def registry_exists() -> bool:
    """Whether a registry is configured: ``MLFLOW_TRACKING_URI`` is set, or the embedded
    store's file exists (checked without creating it)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI")) or (Path.cwd() / "mlflow.db").is_file()


def default_model(
    models_dir: str | Path = "models", name: str = REGISTERED_MODEL
) -> tuple[Path, str]:
    """The model directory every command and the service use when none is named, and a
    sentence saying which it is and why.

    In order: ``PARCELRISK_MODEL_URI`` (a registry URI such as
    ``models:/parcelrisk@champion``); ``PARCELRISK_MODEL_DIR`` (an exported directory); the
    model shipped with the code (:data:`SHIPPED_MODELS`, where ``make bento`` puts it); the
    ``champion`` of ``name`` when a registry exists (:func:`registry_exists`) and holds
    one; else the newest exported model under ``models_dir``. A champion that cannot be
    fetched is an error, never a silent fall-back to another model.
    """
    if uri := os.environ.get("PARCELRISK_MODEL_URI"):
        return registered_model_dir(uri), f"{uri} (PARCELRISK_MODEL_URI)"
    if directory := os.environ.get("PARCELRISK_MODEL_DIR"):
        return Path(directory), f"{directory} (PARCELRISK_MODEL_DIR)"
    if any(SHIPPED_MODELS.glob(f"parcelrisk-*/{METADATA_FILE}")):
        shipped = latest_model(SHIPPED_MODELS)
        return shipped, f"{shipped}, the model shipped with the code"
    why = f"no registry at {tracking_uri()}"
    if registry_exists():
        version = alias_version(CHAMPION, name)
        if version is not None:
            uri = f"models:/{name}@{CHAMPION}"
            return registered_model_dir(uri), f"{uri} (v{version}, registry {tracking_uri()})"
        why = f"no {CHAMPION} of {name!r} in the registry at {tracking_uri()}"
    newest = latest_model(Path(models_dir))
    return newest, f"{newest}, the newest exported model ({why})"


def registered_model_dir(uri: str) -> Path:
    """Local directory of the exported model behind a registry URI.

    ``uri`` is e.g. ``models:/parcelrisk@champion``; the model's artifacts are fetched
    (from a server, or read in place from the embedded store) and the exported model
    directory inside them is returned, ready for :func:`parcelrisk.artifact.load_model`.
    """
    mlflow = configure()
    root = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    found = sorted(p.parent for p in root.glob("artifacts/*/metadata.json"))
    if len(found) != 1:
        raise FileNotFoundError(f"{uri} holds no exported parcelrisk model directory ({root})")
    return found[0]
