"""The declaration contract: one source of truth for what a parcel declaration is.

Training, batch scoring and the HTTP service all read parcels through this module.
Each field has a name, a kind (how values are checked), a role (what the field may be
used for) and whether it is required. :mod:`parcelrisk.contract.frames` and
:mod:`parcelrisk.contract.records` check frames and records against these fields;
:mod:`parcelrisk.contract.files` reads and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CONTRACT_VERSION = "1.1"
#: Most characters of an identifier, a category or a code, and of a free text: longer
#: values are refused (a limit of the contract, so a request cannot make work unbounded).
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 2000


class Kind(StrEnum):
    """How the values of a field are checked."""

    ID = "id"  # non-empty text identifier
    TEXT = "text"  # free text, may be long or non-Latin
    CATEGORY = "category"  # open vocabulary: unseen values are valid data
    ENUM = "enum"  # closed vocabulary: values must come from `allowed`
    COUNTRY = "country"  # ISO 3166-1 alpha-2 code, two upper-case letters
    HTS = "hts"  # HTS code: 6, 8 or 10 digits, dots optional ("6109.10.0012")
    PORT = "port"  # CBP port code: four digits
    LOCODE = "locode"  # UN/LOCODE: country code + three letters or digits
    TIMESTAMP = "timestamp"  # a point in time with a timezone (stored in UTC)
    INT = "int"  # whole number
    FLOAT = "float"  # real number
    BOOL = "bool"


class Role(StrEnum):
    """What a field may be used for."""

    KEY = "key"  # identity and time: used to join, order and split, not as a feature
    INPUT = "input"  # known at declaration time: may feed features
    OUTCOME = "outcome"  # known only after an inspection: a label, never a feature
    GROUND_TRUTH = "ground_truth"  # hidden truth of generated data: evaluation only


@dataclass(frozen=True)
class Field:
    """One field of the declaration contract."""

    name: str
    kind: Kind
    role: Role
    required: bool
    group: str
    doc: str
    allowed: tuple[str, ...] = ()
    min_value: float | None = None
    min_inclusive: bool = True

    def allowed_text(self) -> str:
        """Describe in words what values this field accepts."""
        base = {
            Kind.ID: "a non-empty identifier",
            Kind.TEXT: "text",
            Kind.CATEGORY: "a non-empty label (any value; unseen values are valid)",
            Kind.ENUM: "one of " + ", ".join(repr(a) for a in self.allowed),
            Kind.COUNTRY: "an ISO 3166-1 alpha-2 country code (two upper-case letters, e.g. 'CN')",
            Kind.HTS: "an HTS code of 6, 8 or 10 digits, dots optional (e.g. '6109.10.0012')",
            Kind.PORT: "a four-digit CBP port code (e.g. '2720')",
            Kind.LOCODE: "a UN/LOCODE: two-letter country code and three letters or digits "
            "(e.g. 'CNSZX')",
            Kind.TIMESTAMP: "a timestamp with a timezone (ISO 8601, e.g. '2025-03-01T08:15:00Z')",
            Kind.INT: "a whole number",
            Kind.FLOAT: "a number",
            Kind.BOOL: "true or false",
        }[self.kind]
        if self.min_value is not None:
            op = ">=" if self.min_inclusive else ">"
            base += f" {op} {self.min_value:g}"
        if not self.required:
            base += ", or missing"
        return base


MODES = ("air", "truck", "rail", "ocean", "mail")
ADDRESS_TYPES = ("residential", "commercial", "forwarder", "po_box")
FILER_TYPES = ("marketplace", "carrier", "broker", "forwarder")
VIOLATION_TYPES = (
    "counterfeit",
    "undervaluation",
    "misdescription",
    "prohibited",
    "restricted",
    "split_shipment",
)
INSPECTION_REASONS = ("rule", "random")

_I, _K, _O, _G = Role.INPUT, Role.KEY, Role.OUTCOME, Role.GROUND_TRUTH

FIELDS: tuple[Field, ...] = (
    # identity and timing
    Field("parcel_id", Kind.ID, _K, True, "identity", "Unique id of the declaration."),
    Field("declared_at", Kind.TIMESTAMP, _K, True, "identity", "When the declaration was filed."),
    Field("filer_code", Kind.CATEGORY, _I, True, "filer", "Originator / filer code."),
    Field("filer_type", Kind.ENUM, _I, False, "filer", "Kind of filer.", FILER_TYPES),
    # seller
    Field("seller_id", Kind.ID, _I, True, "seller", "Seller account id at the marketplace."),
    Field("seller_name", Kind.TEXT, _I, True, "seller", "Seller name as declared."),
    Field("seller_country", Kind.COUNTRY, _I, True, "seller", "Country of the seller's address."),
    Field("marketplace", Kind.CATEGORY, _I, False, "seller", "Marketplace the sale was made on."),
    Field(
        "seller_account_age_days",
        Kind.FLOAT,
        _I,
        False,
        "seller",
        "Age of the seller account at declaration, in days.",
        min_value=0,
    ),
    # recipient
    Field(
        "recipient_id",
        Kind.ID,
        _I,
        False,
        "recipient",
        "Id of the deliver-to party (importer, consignee) in the declaring system's records.",
    ),
    Field("recipient_name", Kind.TEXT, _I, True, "recipient", "Final deliver-to party name."),
    Field("recipient_address", Kind.TEXT, _I, True, "recipient", "Street address line(s)."),
    Field("recipient_city", Kind.TEXT, _I, False, "recipient", "City."),
    Field("recipient_state", Kind.CATEGORY, _I, False, "recipient", "State or region code."),
    Field("recipient_zip", Kind.CATEGORY, _I, False, "recipient", "Postal code."),
    Field(
        "recipient_address_type",
        Kind.ENUM,
        _I,
        False,
        "recipient",
        "Kind of deliver-to address.",
        ADDRESS_TYPES,
    ),
    # commodity
    Field("description", Kind.TEXT, _I, True, "commodity", "Free-text commodity description."),
    Field("hts_code", Kind.HTS, _I, False, "commodity", "Harmonized Tariff Schedule code."),
    Field("origin_country", Kind.COUNTRY, _I, True, "commodity", "Country of origin of the goods."),
    Field("quantity", Kind.INT, _I, True, "commodity", "Number of units.", min_value=1),
    Field(
        "declared_value_usd",
        Kind.FLOAT,
        _I,
        True,
        "commodity",
        "Declared fair retail value of the parcel, US dollars.",
        min_value=0,
    ),
    Field(
        "listed_price_usd",
        Kind.FLOAT,
        _I,
        False,
        "commodity",
        "Unit price listed on the marketplace, US dollars.",
        min_value=0,
    ),
    Field(
        "weight_kg",
        Kind.FLOAT,
        _I,
        True,
        "commodity",
        "Gross weight in kilograms.",
        min_value=0,
        min_inclusive=False,
    ),
    # routing
    Field("mode", Kind.ENUM, _I, True, "routing", "Mode of transport.", MODES),
    Field("carrier", Kind.CATEGORY, _I, True, "routing", "Carrier or consolidator."),
    Field("port_of_entry", Kind.PORT, _I, True, "routing", "CBP port of entry."),
    Field("export_country", Kind.COUNTRY, _I, True, "routing", "Country the parcel left from."),
    Field("lading_port", Kind.LOCODE, _I, False, "routing", "Foreign port of lading."),
    Field(
        "freight_cost_usd",
        Kind.FLOAT,
        _I,
        False,
        "routing",
        "Freight charged, US dollars.",
        min_value=0,
    ),
    # outcomes: `inspected` and the propensity for every parcel, the rest only if inspected
    Field("inspected", Kind.BOOL, _O, False, "outcome", "Whether the parcel was inspected."),
    Field(
        "inspection_reason",
        Kind.ENUM,
        _O,
        False,
        "outcome",
        "Why it was inspected: a targeting rule or the random compliance sample.",
        INSPECTION_REASONS,
    ),
    Field(
        "inspection_propensity",
        Kind.FLOAT,
        _O,
        False,
        "outcome",
        "Probability with which the selection process (rules + random sample) picked it.",
        min_value=0,
    ),
    Field(
        "violation_found",
        Kind.BOOL,
        _O,
        False,
        "outcome",
        "Whether the inspection found a violation (missing when not inspected).",
    ),
    Field(
        "violation_type",
        Kind.ENUM,
        _O,
        False,
        "outcome",
        "Kind of violation found.",
        VIOLATION_TYPES,
    ),
    Field(
        "outcome_at",
        Kind.TIMESTAMP,
        _O,
        False,
        "outcome",
        "When the inspection result was recorded.",
    ),
    # hidden truth of generated data
    Field(
        "gt_violation_prob",
        Kind.FLOAT,
        _G,
        False,
        "ground_truth",
        "Generator's true violation probability.",
        min_value=0,
    ),
    Field("gt_violation", Kind.BOOL, _G, False, "ground_truth", "Whether it truly is violative."),
    Field(
        "gt_violation_type",
        Kind.ENUM,
        _G,
        False,
        "ground_truth",
        "True kind of violation.",
        VIOLATION_TYPES,
    ),
    Field(
        "gt_bad_actor", Kind.BOOL, _G, False, "ground_truth", "Seller is a persistent bad actor."
    ),
    Field(
        "gt_mechanisms",
        Kind.INT,
        _G,
        False,
        "ground_truth",
        "Bit mask of the generator mechanisms that apply (parcelrisk.synth.MECHANISMS).",
        min_value=0,
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
INPUT_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role is Role.INPUT)
KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role is Role.KEY)
OUTCOME_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role is Role.OUTCOME)
GROUND_TRUTH_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role is Role.GROUND_TRUTH)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
#: Columns a feature may be computed from (outcomes only through time-aware history).
DECLARATION_COLUMNS: tuple[str, ...] = KEY_COLUMNS + INPUT_COLUMNS


def is_ground_truth(column: str) -> bool:
    """Tell whether a column holds hidden truth that must never reach features."""
    field = FIELDS_BY_NAME.get(column)
    return column.startswith("gt_") or (field is not None and field.role is Role.GROUND_TRUTH)


def forbid_ground_truth(columns: list[str] | tuple[str, ...], where: str) -> None:
    """Raise if any ground-truth column is among ``columns``.

    Raises
    ------
    ValueError
        Naming the offending columns and the place (``where``) that received them.
    """
    bad = [c for c in columns if is_ground_truth(c)]
    if bad:
        raise ValueError(
            f"{where} received ground-truth column(s) {bad}; these hold the generator's hidden "
            "truth and may be used for evaluation only, never as features or labels"
        )
