"""The declaration contract: what a parcel declaration is, and every way data becomes one.

Other modules import the contract's public names from here. One file per part, to be
read one at a time, in the order data flows:

=====================  ==================================================================
``schema.py``          the contract itself: fields, kinds, roles (one source of truth)
``problems.py``        one problem per value; the errors that list them all
``parse.py``           the one dialect in which text becomes numbers, booleans and times
``checks.py``          one column against one field: type, format, range
``checks_time.py``     the same for timestamps
``frames.py``          a whole frame: required columns, unique ids, outcomes; ``validate``
``records.py``         JSON-like records (one request); unknown keys with did-you-mean
``plain.py``           the fast path for small batches of plain, valid records
``files.py``           declaration files: Parquet and CSV, read and written
``mapping_spec.py``    a column mapping: which user column plays which part
``mapping_file.py``    a mapping's YAML file, loaded and checked
``mapping_values.py``  the values of a user's columns, read
``mapping_apply.py``   a user's table or records through a mapping -> the contract frame
``edge.py``            any table or records -> declarations: what everything else calls
=====================  ==================================================================
"""

from parcelrisk.contract.checks import CANONICAL_DTYPES
from parcelrisk.contract.edge import canonical_frame, canonical_records, read_table
from parcelrisk.contract.files import (
    SUFFIXES,
    check_suffix,
    read_declarations,
    to_records,
    write_declarations,
)
from parcelrisk.contract.frames import check, validate
from parcelrisk.contract.mapping_apply import (
    apply_mapping,
    made_missing,
    read_mapped,
    records_frame,
)
from parcelrisk.contract.mapping_file import load_mapping, mapping_from_dict
from parcelrisk.contract.mapping_spec import ON_INVALID, ROLES, Binary, ColumnMapping
from parcelrisk.contract.plain import plain_columns
from parcelrisk.contract.problems import (
    ContractError,
    ContractProblem,
    MappedDataError,
    MappingError,
    json_safe,
)
from parcelrisk.contract.records import validate_records
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
    "CANONICAL_DTYPES",
    "CONTRACT_VERSION",
    "DECLARATION_COLUMNS",
    "FIELDS",
    "FIELDS_BY_NAME",
    "GROUND_TRUTH_COLUMNS",
    "INPUT_COLUMNS",
    "INSPECTION_REASONS",
    "KEY_COLUMNS",
    "ON_INVALID",
    "OUTCOME_COLUMNS",
    "REQUIRED_COLUMNS",
    "ROLES",
    "SUFFIXES",
    "VIOLATION_TYPES",
    "Binary",
    "ColumnMapping",
    "ContractError",
    "ContractProblem",
    "Field",
    "Kind",
    "MappedDataError",
    "MappingError",
    "Role",
    "apply_mapping",
    "canonical_frame",
    "canonical_records",
    "check",
    "check_suffix",
    "forbid_ground_truth",
    "is_ground_truth",
    "json_safe",
    "load_mapping",
    "made_missing",
    "mapping_from_dict",
    "plain_columns",
    "read_declarations",
    "read_mapped",
    "read_table",
    "records_frame",
    "to_records",
    "validate",
    "validate_records",
    "write_declarations",
]
