"""Exact TreeSHAP of a LightGBM model from per-leaf tables (path-dependent, margin space).

LightGBM's ``pred_contrib`` runs the TreeSHAP recursion for every row: per tree its cost
grows with leaves x depth^2. The same values can be had with far less work per row, in
the manner of Fast TreeSHAP v2 (Yang, 2021): the contribution a leaf makes to a row
depends only on which of the conditions on the leaf's path the row meets, feature by
feature, so it can be tabulated once per model.

For a leaf with value ``v`` whose path splits on the distinct features ``F`` (``d`` of
them), TreeSHAP's value function restricted to that leaf is the product game

    v(S) = v * prod_{j in F} (z_j if j in S else r_j)

where ``z_j`` is 1 when the row meets every condition on ``j`` along the path and ``r_j``
is the product of the path's cover ratios (child count / parent count) of the splits on
``j``. Its Shapley values are

    phi_i = v * (z_i - r_i) * sum_{S subset of F - {i}} |S|! (d-|S|-1)! / d!
                                * prod_{j in S} z_j * prod_{j in F - S - {i}} r_j

so they depend on the row only through the ``2^d`` patterns of ``z``. The tables hold
``phi`` for every leaf, pattern and feature; explaining a row then costs one decision per
split and one table lookup per leaf. The game is additive over leaves, so summing the
leaves' values gives TreeSHAP exactly (up to floating-point rounding: the contributions
agree with ``pred_contrib`` to about 1e-12, and base value + contributions equal the
margin to the same precision).

The decisions repeat LightGBM's own (``Tree::NumericalDecision`` and
``Tree::CategoricalDecision`` of LightGBM 4), missing values included.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

log = logging.getLogger(__name__)

#: A leaf whose path splits on more distinct features than this is not tabulated (its
#: table would have 2^d x d entries); such models are explained by ``pred_contrib``.
MAX_PATH_FEATURES = 10

#: Tables larger than this many values (64 MB) are not built (same fallback). The default
#: model (300 trees, 15 leaves, depth 4) needs about 280,000.
MAX_TABLE_VALUES = 8_000_000

#: Rows per thread below which one thread explains the whole batch.
ROWS_PER_THREAD = 256

_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold, a float32 constant
_BLOCK_ROWS = 64


@dataclass(frozen=True)
class LeafTables:
    """A LightGBM model's splits and per-leaf SHAP tables, as arrays.

    Internal nodes of all trees are numbered together: tree ``t`` owns the nodes
    ``tree_nodes[t]:tree_nodes[t+1]`` and the leaves ``tree_leaves[t]:tree_leaves[t+1]``.
    A node's children (``node_left``, ``node_right``) are node numbers within its tree, or
    ``-1 - leaf`` for a leaf. Every leaf is padded to the same shape so that the kernel's
    inner loops have fixed lengths: ``P`` path conditions (``cond_node``: the node, or the
    number of nodes for a padding condition that every row meets; ``cond_left``: the side
    taken; ``cond_slot``: which of the leaf's features it tests) and ``D`` feature slots
    (``slot_feature``; a padding slot is a null player that adds to a scratch column).
    ``table[leaf, pattern, slot]`` is the contribution of the leaf to the slot's feature for
    that pattern of met conditions (bit ``s`` set when the row meets every condition on
    slot ``s``).
    """

    n_features: int
    base_value: float
    splits: tuple[np.ndarray, ...]  # feature, threshold, categorical, default_left, missing,
    #                                 category word offsets, category words (per node)
    node_left: np.ndarray
    node_right: np.ndarray
    tree_nodes: np.ndarray
    tree_leaves: np.ndarray
    leaf_value: np.ndarray
    cond_node: np.ndarray
    cond_left: np.ndarray
    cond_slot: np.ndarray
    slot_feature: np.ndarray
    table: np.ndarray

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Contributions of each row of ``values`` (rows x features), with the base value in
        the last column: the layout of LightGBM's ``pred_contrib``."""
        values = self._checked(values)
        out = np.zeros((len(values), self.n_features + 2))  # + base value, scratch
        arrays = (*self.splits, self.tree_leaves, self.cond_node, self.cond_left,
                  self.cond_slot, self.slot_feature, self.table)  # fmt: skip
        _in_threads(_explain_rows, values, out, arrays)
        out[:, self.n_features] = self.base_value
        return out[:, :-1]

    def margin(self, values: np.ndarray) -> np.ndarray:
        """The booster's raw score of each row, bit for bit as ``predict(raw_score=True)``
        gives it: the leaves' values added tree by tree from 0."""
        values = self._checked(values)
        out = np.zeros(len(values))
        arrays = (*self.splits, self.node_left, self.node_right, self.tree_nodes,
                  self.tree_leaves, self.leaf_value)  # fmt: skip
        _in_threads(_margin_rows, values, out, arrays)
        return out

    def _checked(self, values: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.n_features:
            raise ValueError(
                f"expected a matrix of {self.n_features} feature columns, got shape {values.shape}"
            )
        return values


def _in_threads(kernel, values: np.ndarray, out: np.ndarray, arrays: tuple) -> None:
    """Runs ``kernel(values, out, *arrays)`` over the rows, on two threads for large batches
    (the kernels release the GIL; each thread writes its own rows of ``out``)."""
    n_threads = min(2, len(values) // ROWS_PER_THREAD) or 1
    if n_threads == 1:
        kernel(values, out, *arrays)
        return
    cut = np.linspace(0, len(values), n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(
            lambda k: kernel(values[cut[k]:cut[k + 1]], out[cut[k]:cut[k + 1]], *arrays),
            range(n_threads),
        ))  # fmt: skip


def leaf_tables(booster) -> LeafTables | None:
    """Per-leaf SHAP tables of a ``lightgbm.Booster``, or None when the model is outside
    what they cover (several trees per iteration, linear trees, paths on more than
    :data:`MAX_PATH_FEATURES` features, or tables over :data:`MAX_TABLE_VALUES` values),
    or when they cannot be built (logged): the model is then explained by ``pred_contrib``.

    The trees come from the JSON dump, the numeric thresholds from the saved model: the
    dump writes every threshold of 1e300 or more as 1e300, the saved model exactly (an
    infinite one as ``inf``).
    """
    try:
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            return None
        thresholds = _saved_thresholds(booster.model_to_string())
        builder = _Builder()
        for tree in dump["tree_info"]:
            if not builder.add_tree(tree["tree_structure"], thresholds[tree["tree_index"]]):
                return None
        return builder.finish(n_features=dump["max_feature_idx"] + 1)
    except Exception:  # a booster of a shape not foreseen here: explain it by LightGBM
        log.warning("TreeSHAP tables not built; LightGBM's pred_contrib explains", exc_info=True)
        return None


def _saved_thresholds(model: str) -> list[list[float]]:
    """Each tree's thresholds, by split index, as the saved model holds them (for a
    categorical split, the index of its category set)."""
    trees: list[list[float]] = []
    for line in model.splitlines():
        if line.startswith("Tree="):
            trees.append([])
        elif line.startswith("threshold=") and trees:
            trees[-1] = [float(v) for v in line[len("threshold=") :].split()]
    return trees


class _Uncovered(Exception):
    """A tree the tables do not cover."""


class _Builder:
    """Collects the nodes and leaves of the trees, then tabulates the leaves."""

    def __init__(self) -> None:
        self.nodes: list[tuple] = []  # feature, threshold, categorical, default_left, missing
        self.cats: list[list[int]] = []  # categories that go left, per node
        self.children: list[list[int]] = []  # left, right: node within the tree or -1 - leaf
        self.tree_nodes, self.tree_leaves = [0], [0]
        # per leaf: value, then its path as (node, left?, feature, cover ratio)
        self.leaves: list[tuple[float, list[tuple[int, bool, int, float]]]] = []
        self.expected = 0.0

    def add_tree(self, root: dict, thresholds: list[float]) -> bool:
        """Adds a tree (its dump) with its thresholds by split index; False if the tables
        do not cover it."""
        try:
            self._visit(root, [], len(self.nodes), _count(root), thresholds)
        except _Uncovered:
            return False
        self.tree_nodes.append(len(self.nodes))
        self.tree_leaves.append(len(self.leaves))
        return True

    def _visit(
        self, node: dict, path: list, first: int, total: float, thresholds: list[float]
    ) -> int:
        """Adds a subtree; returns its number within the tree (``-1 - leaf`` for a leaf)."""
        if "leaf_value" in node:
            if "leaf_coeff" in node or len({f for _, _, f, _ in path}) > MAX_PATH_FEATURES:
                raise _Uncovered
            self.leaves.append((float(node["leaf_value"]), path))
            self.expected += node["leaf_count"] / total * node["leaf_value"]
            return -len(self.leaves)
        categorical = node["decision_type"] == "=="
        threshold = 0.0 if categorical else thresholds[node["split_index"]]
        self.cats.append([int(c) for c in node["threshold"].split("||")] if categorical else [])
        self.nodes.append((
            node["split_feature"], threshold, categorical,
            bool(node["default_left"]), _MISSING[node["missing_type"]],
        ))  # fmt: skip
        self.children.append([0, 0])
        k = len(self.nodes) - 1
        for side, left in ((0, True), (1, False)):
            child = node["left_child" if left else "right_child"]
            step = (k, left, node["split_feature"], _count(child) / node["internal_count"])
            self.children[k][side] = self._visit(child, [*path, step], first, total, thresholds)
        return k - first

    def finish(self, n_features: int) -> LeafTables | None:
        n_leaves = len(self.leaves)
        n_slots = max([len({f for _, _, f, _ in path}) for _, path in self.leaves] + [1])
        n_conds = max([len(path) for _, path in self.leaves] + [1])
        if n_leaves * (1 << n_slots) * n_slots > MAX_TABLE_VALUES:
            return None
        always = len(self.nodes)  # a condition every row meets
        cond_node = np.full((n_leaves, n_conds), always, dtype=np.int64)
        cond_left = np.ones((n_leaves, n_conds), dtype=np.bool_)
        cond_slot = np.zeros((n_leaves, n_conds), dtype=np.int64)
        slot_feature = np.full((n_leaves, n_slots), n_features + 1, dtype=np.int64)
        ratio = np.ones((n_leaves, n_slots))
        for leaf, (_, path) in enumerate(self.leaves):
            slots: dict[int, int] = {}
            for c, (node, left, feature, r) in enumerate(path):
                s = slots.setdefault(feature, len(slots))
                slot_feature[leaf, s] = feature
                ratio[leaf, s] *= r
                cond_node[leaf, c], cond_left[leaf, c], cond_slot[leaf, c] = node, left, s
        value = np.array([v for v, _ in self.leaves])
        words = [_bitset(c) for c in self.cats]
        columns = list(zip(*self.nodes, strict=True)) if self.nodes else [()] * 5
        children = np.asarray(self.children, dtype=np.int64).reshape(-1, 2)
        return LeafTables(
            n_features=n_features,
            base_value=self.expected,
            splits=(
                np.asarray(columns[0], dtype=np.int64),
                np.asarray(columns[1], dtype=np.float64),
                np.asarray(columns[2], dtype=np.bool_),
                np.asarray(columns[3], dtype=np.bool_),
                np.asarray(columns[4], dtype=np.int8),
                np.cumsum([0] + [len(w) for w in words], dtype=np.int64),
                np.asarray([x for w in words for x in w], dtype=np.uint32),
            ),
            node_left=np.ascontiguousarray(children[:, 0]),
            node_right=np.ascontiguousarray(children[:, 1]),
            tree_nodes=np.asarray(self.tree_nodes, dtype=np.int64),
            tree_leaves=np.asarray(self.tree_leaves, dtype=np.int64),
            leaf_value=value,
            cond_node=cond_node,
            cond_left=cond_left,
            cond_slot=cond_slot,
            slot_feature=slot_feature,
            table=_product_game_shapley(value, ratio),
        )


def _count(node: dict) -> float:
    return node["leaf_count"] if "leaf_value" in node else node["internal_count"]


def _bitset(categories: list[int]) -> list[int]:
    """LightGBM's bitset of categories: bit ``c % 32`` of word ``c // 32``."""
    words = [0] * (max(categories, default=-1) // 32 + 1)
    for c in categories:
        words[c // 32] |= 1 << (c % 32)
    return words


def _product_game_shapley(value: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Shapley values of the product games of ``m`` leaves of ``d`` slots each, for every
    pattern of ``z``: shape ``(m, 2^d, d)``. A slot with ratio 1 that every row meets is a
    null player: it gets 0 and changes no other slot's value.

    For slot ``i``, ``coef[S] = |S|! (d-|S|-1)! / d! * prod_{j not in S, j != i} r_j`` over
    the subsets ``S`` of the other slots is summed over the subsets of the pattern (a
    subset-sum transform), then multiplied by ``v (z_i - r_i)``.
    """
    m, d = ratio.shape
    n = 1 << d
    masks = np.arange(n)
    size = np.array([m_.bit_count() for m_ in range(n)])
    weight = np.array([
        math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) if s < d else 0.0
        for s in size
    ])  # fmt: skip
    out = np.empty((m, n, d))
    for i in range(d):
        coef = np.tile(weight, (m, 1))
        coef[:, (masks >> i) & 1 == 1] = 0.0  # subsets of the other slots only
        for j in range(d):
            if j != i:
                coef[:, (masks >> j) & 1 == 0] *= ratio[:, j : j + 1]
        for b in range(d):  # coef[p] = sum of coef[S] over the subsets S of p
            view = coef.reshape(m, n >> (b + 1), 2, 1 << b)
            view[:, :, 1, :] += view[:, :, 0, :]
        z = ((masks >> i) & 1).astype(float)
        out[:, :, i] = value[:, None] * (z[None, :] - ratio[:, i : i + 1]) * coef
    return out


def _compiled(function):
    """``function`` compiled by numba, releasing the GIL; the machine code is cached next to
    this module (or in the user's cache) when a writable place exists, and compiled anew
    in each process otherwise."""
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:  # no writable cache directory (e.g. a read-only installation)
        return numba.njit(nogil=True)(function)


@_compiled
def _decide(values, left, feature, threshold, categorical, default_left, missing, cats,
            words):  # pragma: no cover (compiled)  # fmt: skip
    """``left[i, k]``: row ``i`` goes left at node ``k``, by LightGBM 4's decisions
    (``Tree::NumericalDecision`` and ``Tree::CategoricalDecision``)."""
    for i in range(values.shape[0]):
        row = values[i]
        for k in range(len(feature)):
            fval = row[feature[k]]
            if -_ZERO <= fval <= _ZERO:  # LightGBM reads such a value as 0 (sparse rows)
                fval = 0.0
            if categorical[k]:  # left when the category is in the node's set
                goes = False
                if not math.isnan(fval) and -1.0 < fval < 2147483648.0:
                    pos = int(fval)
                    word = pos >> 5
                    if word < cats[k + 1] - cats[k]:
                        goes = ((words[cats[k] + word] >> (pos & 31)) & 1) != 0
            else:
                kind = missing[k]  # 0 none, 1 zero, 2 NaN
                if math.isnan(fval) and kind != 2:
                    fval = 0.0
                if (kind == 1 and fval == 0.0) or (kind == 2 and math.isnan(fval)):
                    goes = default_left[k]
                else:
                    goes = fval <= threshold[k]
            left[i, k] = goes


@_compiled
def _explain_rows(values, out, feature, threshold, categorical, default_left, missing, cats,
                  words, tree_leaves, cond_node, cond_left, cond_slot, slot_feature,
                  table):  # pragma: no cover (compiled)  # fmt: skip
    """Adds every leaf's tabulated contributions to ``out`` for each row of ``values``.

    Rows go in blocks, tree by tree within a block, so that a tree's tables stay in the
    processor's cache while the block's rows use them.
    """
    n_trees = len(tree_leaves) - 1
    n_conds = cond_node.shape[1]
    n_slots = slot_feature.shape[1]
    left = np.ones((_BLOCK_ROWS, len(feature) + 1), dtype=np.bool_)  # + the padding condition
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        block = values[start : start + _BLOCK_ROWS]
        _decide(block, left, feature, threshold, categorical, default_left, missing, cats,
                words)  # fmt: skip
        for t in range(n_trees):
            for i in range(block.shape[0]):
                acc = out[start + i]
                went = left[i]
                for leaf in range(tree_leaves[t], tree_leaves[t + 1]):
                    pattern = (1 << n_slots) - 1
                    for c in range(n_conds):
                        if went[cond_node[leaf, c]] != cond_left[leaf, c]:
                            pattern &= ~(1 << cond_slot[leaf, c])
                    for s in range(n_slots):
                        acc[slot_feature[leaf, s]] += table[leaf, pattern, s]


@_compiled
def _margin_rows(values, out, feature, threshold, categorical, default_left, missing, cats,
                 words, node_left, node_right, tree_nodes, tree_leaves,
                 leaf_value):  # pragma: no cover (compiled)  # fmt: skip
    """The raw score of each row: its leaf's value in every tree, added in tree order."""
    n_trees = len(tree_nodes) - 1
    left = np.ones((_BLOCK_ROWS, len(feature) + 1), dtype=np.bool_)
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        block = values[start : start + _BLOCK_ROWS]
        _decide(block, left, feature, threshold, categorical, default_left, missing, cats,
                words)  # fmt: skip
        for i in range(block.shape[0]):
            went = left[i]
            total = 0.0
            for t in range(n_trees):
                first = tree_nodes[t]
                if tree_nodes[t + 1] == first:  # a tree of one leaf
                    total += leaf_value[tree_leaves[t]]
                    continue
                node = 0
                while node >= 0:
                    node = (
                        node_left[first + node] if went[first + node] else node_right[first + node]
                    )
                total += leaf_value[-1 - node]
            out[start + i] = total
