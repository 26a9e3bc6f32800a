"""Commodity descriptions that read like marketplace listings.

For each category a pool of listings is built from several templates (keyword-stuffed
titles, short manifest lines, upper-case broker style, quantity-first), with colours,
sizes, brands and typos. Parcels draw from the pools by index, so building 1M
descriptions costs one array lookup.
"""

from __future__ import annotations

import numpy as np

from parcelrisk.synth.catalogue import (
    BRANDS,
    CATEGORIES,
    COLORS,
    DECOY_WORDS,
    SIZES,
    VAGUE_TERMS,
    YEARS,
    Category,
)

POOL_SIZE = 600  # listings per category and brand flag
_TEMPLATES = 6


def _typo(rng: np.random.Generator, text: str) -> str:
    """Swap, drop or double one character, as hurried listings do."""
    if len(text) < 6:
        return text
    i = int(rng.integers(1, len(text) - 2))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _listing(rng: np.random.Generator, cat: Category, brand: str | None) -> str:
    pick = lambda seq: seq[int(rng.integers(0, len(seq)))]  # noqa: E731
    noun, adj = pick(cat.nouns), pick(cat.adjectives)
    adj2 = pick([a for a in cat.adjectives if a != adj])
    color, size, year = pick(COLORS), pick(SIZES), pick(YEARS)
    lead = f"{brand} " if brand else ""
    template = int(rng.integers(0, _TEMPLATES))
    if template == 0:
        text = f"{year} {lead}{adj} {adj2} {noun} {color} {size}"
    elif template == 1:
        text = f"{lead}{noun} - {adj}, {color}"
    elif template == 2:
        text = f"{lead}{adj} {noun}".upper()
    elif template == 3:
        text = f"{int(rng.integers(1, 6))}pcs {lead}{noun.lower()} {adj.lower()} {color.lower()}"
    elif template == 4:
        text = f"{lead}{noun} for Women Men {adj} {adj2}"
        text += " Gift for Her" if rng.random() < 0.1 else ""
    else:
        text = f"{noun.lower()}, {adj.lower()}"
        text = f"{brand} {text}" if brand else text
    if rng.random() < 0.15:
        text = _typo(rng, text)
    return text


def build_pools(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Listing pools: key ``(category)`` plain and ``(category)+brand`` naming a brand."""
    pools: dict[str, np.ndarray] = {}
    for cat in CATEGORIES:
        plain = [_listing(rng, cat, None) for _ in range(POOL_SIZE)]
        pools[cat.name] = np.array(plain, dtype=object)
        if cat.branded:
            branded = [
                _listing(rng, cat, BRANDS[int(rng.integers(0, len(BRANDS)))])
                for _ in range(POOL_SIZE)
            ]
            pools[cat.name + "+brand"] = np.array(branded, dtype=object)
    pools["vague"] = _vague_pool(rng)
    pools["decoy"] = _decoy_pool(rng)
    return pools


def _vague_pool(rng: np.random.Generator) -> np.ndarray:
    """Vague descriptions, with the variants real filings show ('GIFT', 'gift for friend')."""
    out = []
    for term in VAGUE_TERMS:
        out += [
            term,
            term.upper(),
            term.title(),
            f"{term} 1pc",
            f"{term} for friend",
            f"{term}, no commercial value",
            f"{term} ({int(rng.integers(1, 9))} items)",
        ]
    return np.array(out, dtype=object)


def _decoy_pool(rng: np.random.Generator) -> np.ndarray:
    """Harmless-sounding descriptions that hide regulated goods."""
    out = []
    for word in DECOY_WORDS:
        out += [
            word,
            word.title(),
            f"{word} {int(rng.integers(1, 20))} packs",
            f"assorted {word}",
            f"{word} - sample",
        ]
    return np.array(out, dtype=object)


def draw(rng: np.random.Generator, pool: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` descriptions from a pool (Zipf-ish: popular listings repeat)."""
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.6
    return pool[rng.choice(len(pool), size=size, p=weights / weights.sum())]
