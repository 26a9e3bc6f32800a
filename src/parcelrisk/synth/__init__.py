"""Synthetic parcel declarations with known ground truth, for building and testing models."""

from parcelrisk.synth.config import GeneratorConfig, Mechanism
from parcelrisk.synth.generator import MECHANISMS, generate, mechanism_flags
from parcelrisk.synth.labelling import legacy_rule_hits, legacy_rule_score
from parcelrisk.synth.summary import summarize

__all__ = [
    "MECHANISMS",
    "GeneratorConfig",
    "Mechanism",
    "generate",
    "legacy_rule_hits",
    "legacy_rule_score",
    "mechanism_flags",
    "summarize",
]
