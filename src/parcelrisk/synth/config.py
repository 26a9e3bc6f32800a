"""Settings of the synthetic data generator: every mechanism's rate and effect.

Effects are additive on the logit of the hidden violation probability. Rates come in
pairs: for ordinary sellers and for persistent bad actors, so that the cues a model can
observe are correlated with the seller risk it cannot. ``docs/data.md`` explains each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Mechanism:
    """How often a mechanism is drawn for ordinary sellers and for bad actors, and its effect.

    Rates are draw probabilities: per parcel for most mechanisms, per order for split
    shipments, fictitious names and drop addresses (every parcel of the order shares the
    draw), per seller for poor brokers. Decoys apply only to high-risk categories and
    counterfeits only to branded ones, and one description per parcel means decoys, vague
    terms, mismatch and counterfeits exclude each other, in that order of precedence
    (docs/data.md gives the measured shares).
    """

    rate: float
    rate_bad: float
    effect: float


@dataclass(frozen=True)
class GeneratorConfig:
    """All settings of :func:`parcelrisk.synth.generate`."""

    rows: int = 1_000_000
    days: int = 60
    seed: int = 0
    start: str = "2025-03-03"
    #: De minimis value threshold, USD: bunching happens just under it.
    value_threshold: float = 800.0

    # population
    parcels_per_seller: float = 60.0
    parcels_per_recipient: float = 2.5
    #: Share of seller actors that are persistent bad actors: (those active from the first
    #: day, all of them by the end). The difference enter during the window (drift).
    bad_actor_share: tuple[float, float] = (0.03, 0.05)
    bad_actor_effect: float = 1.5
    seller_latent_sd: float = 0.5
    #: Bad actors open a new seller account every this many days on average (churn;
    #: at least 3 days apart).
    churn_days_bad: float = 18.0
    #: Share of ordinary sellers that switch account once in the window.
    churn_share_good: float = 0.03
    new_account_days: float = 30.0
    new_account_effect: float = 0.4

    # baseline and drift
    intercept: float = -4.1
    #: Logit added linearly from the first to the last day.
    drift: float = 0.25

    # mechanisms
    vague: Mechanism = field(default_factory=lambda: Mechanism(0.03, 0.22, 0.9))
    mismatch: Mechanism = field(default_factory=lambda: Mechanism(0.015, 0.10, 1.0))
    decoy: Mechanism = field(default_factory=lambda: Mechanism(0.02, 0.30, 1.6))
    undervaluation: Mechanism = field(default_factory=lambda: Mechanism(0.03, 0.30, 1.3))
    counterfeit: Mechanism = field(default_factory=lambda: Mechanism(0.01, 0.30, 1.9))
    bunching: Mechanism = field(default_factory=lambda: Mechanism(0.003, 0.04, 1.3))
    split: Mechanism = field(default_factory=lambda: Mechanism(0.005, 0.10, 0.8))
    fictitious_name: Mechanism = field(default_factory=lambda: Mechanism(0.008, 0.10, 0.9))
    drop_address: Mechanism = field(default_factory=lambda: Mechanism(0.008, 0.15, 1.0))
    transshipment: Mechanism = field(default_factory=lambda: Mechanism(0.04, 0.25, 0.7))
    poor_broker: Mechanism = field(default_factory=lambda: Mechanism(0.12, 0.55, 0.5))
    #: Per optional field left empty (listed price, HTS, lading port, freight, marketplace).
    missing_field: Mechanism = field(default_factory=lambda: Mechanism(0.04, 0.15, 0.25))

    #: Address-type mix of recipients and logit effect of each type.
    address_mix: dict[str, float] = field(
        default_factory=lambda: {
            "residential": 0.80,
            "commercial": 0.10,
            "forwarder": 0.06,
            "po_box": 0.04,
        }
    )
    address_effect: dict[str, float] = field(
        default_factory=lambda: {
            "residential": 0.0,
            "commercial": 0.1,
            "forwarder": 0.6,
            "po_box": 0.4,
        }
    )
    #: Share of branded-category listings of ordinary sellers naming a (genuine) brand.
    genuine_brand_share: float = 0.2

    # labelling layer
    random_inspection_rate: float = 0.003
    #: Probability that an inspection of a violative parcel finds the violation, by type.
    detection: dict[str, float] = field(
        default_factory=lambda: {
            "counterfeit": 0.85,
            "undervaluation": 0.6,
            "misdescription": 0.75,
            "prohibited": 0.9,
            "restricted": 0.8,
            "split_shipment": 0.7,
        }
    )
    outcome_lag_days: float = 4.0

    def replace(self, **changes: object) -> GeneratorConfig:
        """Return a copy with some settings changed, rejecting unknown names."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown generator setting(s) {unknown}; known: {sorted(known)}")
        return type(self)(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})
