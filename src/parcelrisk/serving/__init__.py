"""HTTP serving of the risk model (BentoML)."""
