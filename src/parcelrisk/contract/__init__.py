"""The declaration contract: what a parcel declaration is, and every way data becomes one.

Other modules import the contract's public names from here.
"""

from parcelrisk.contract.schema import (
    CONTRACT_VERSION,
    DECLARATION_COLUMNS,
    FIELDS,
    FIELDS_BY_NAME,
    GROUND_TRUTH_COLUMNS,
    INPUT_COLUMNS,
    INSPECTION_REASONS,
    KEY_COLUMNS,
    OUTCOME_COLUMNS,
    REQUIRED_COLUMNS,
    VIOLATION_TYPES,
    Field,
    Kind,
    Role,
    forbid_ground_truth,
    is_ground_truth,
)

__all__ = [
    "CONTRACT_VERSION",
    "DECLARATION_COLUMNS",
    "FIELDS",
    "FIELDS_BY_NAME",
    "GROUND_TRUTH_COLUMNS",
    "INPUT_COLUMNS",
    "INSPECTION_REASONS",
    "KEY_COLUMNS",
    "OUTCOME_COLUMNS",
    "REQUIRED_COLUMNS",
    "VIOLATION_TYPES",
    "Field",
    "Kind",
    "Role",
    "forbid_ground_truth",
    "is_ground_truth",
]
