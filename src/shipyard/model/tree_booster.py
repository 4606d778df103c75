"""scikit-learn tree ensembles rewritten as XGBoost boosters, for XGBoost's exact TreeSHAP.

XGBoost's ``pred_contribs=True`` is exact (path-dependent) TreeSHAP in C++. A random forest or
a HistGradientBoosting model is a sum of ordinary binary trees, so the same trees written in
XGBoost's JSON model format give the same predictions and, through XGBoost, the exact
contributions -- without the ``shap`` package (it needs numpy >= 2, which the drift detector's
environment cannot have). Each node keeps its training cover (sample count), which TreeSHAP
weighs paths by, as ``shap``'s own TreeExplainer does for these models.

Split rules: scikit-learn goes left when ``x <= threshold``, XGBoost when ``x < condition``
on float32 values. A random forest compares float32 inputs: the condition is the float32 just
above the largest float32 not above the threshold, so both send every input the same way.
HistGradientBoosting compares float64 inputs, and its thresholds are often training values
themselves: the condition is the float32 just above the threshold rounded to nearest, the same
for every input but one strictly between the threshold and half a float32 step above it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ROOT_PARENT = 2147483647  # XGBoost's "no parent"


@dataclass
class Tree:
    """One binary tree in flat arrays; node 0 is the root, ``left == -1`` marks a leaf."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    condition: np.ndarray  # XGBoost's: go left when float32(x) < condition
    value: np.ndarray  # leaf values (internal nodes: ignored)
    cover: np.ndarray  # training weight reaching each node
    missing_left: np.ndarray


def float32_condition(threshold: np.ndarray) -> np.ndarray:
    """XGBoost ``x < condition`` equal to scikit-learn's ``x <= threshold`` on float32 x."""
    threshold = np.asarray(threshold, dtype=np.float64)
    floor = threshold.astype(np.float32)
    above = floor.astype(np.float64) > threshold
    floor[above] = np.nextafter(floor[above], np.float32(-np.inf))
    return np.nextafter(floor, np.float32(np.inf))


def float64_condition(threshold: np.ndarray) -> np.ndarray:
    """XGBoost ``x < condition`` for scikit-learn's ``x <= threshold`` on float64 x (which
    XGBoost rounds to float32): exact at the threshold itself."""
    nearest = np.asarray(threshold, dtype=np.float64).astype(np.float32)
    return np.nextafter(nearest, np.float32(np.inf))


def breadth_first(tree: Tree) -> Tree:
    """The same tree with its nodes numbered breadth first (XGBoost's TreeSHAP gave wrong
    contributions for scikit-learn's depth-first numbering)."""
    order = [0]
    for node in order:
        if tree.left[node] >= 0:
            order += [int(tree.left[node]), int(tree.right[node])]
    ids = np.asarray(order)
    new = np.full(len(tree.left), -1, dtype=np.int64)
    new[ids] = np.arange(len(ids))
    left, right = tree.left[ids], tree.right[ids]
    inner = left >= 0
    return Tree(
        np.where(inner, new[np.where(inner, left, 0)], -1),
        np.where(inner, new[np.where(inner, right, 0)], -1),
        tree.feature[ids],
        tree.condition[ids],
        tree.value[ids],
        tree.cover[ids],
        tree.missing_left[ids],
    )


def _tree_json(tree: Tree, index: int, n_features: int) -> dict[str, Any]:
    tree = breadth_first(tree)
    leaf = tree.left < 0
    n = len(tree.left)
    parents = np.full(n, ROOT_PARENT, dtype=np.int64)
    inner = np.flatnonzero(~leaf)
    parents[tree.left[inner]] = inner
    parents[tree.right[inner]] = inner
    conditions = np.where(leaf, tree.value, tree.condition)
    return {
        "base_weights": np.where(leaf, tree.value, 0.0).astype(np.float32).tolist(),
        "categories": [],
        "categories_nodes": [],
        "categories_segments": [],
        "categories_sizes": [],
        "default_left": np.where(leaf, 0, tree.missing_left.astype(int)).tolist(),
        "id": index,
        "left_children": np.where(leaf, -1, tree.left).astype(int).tolist(),
        "loss_changes": [0.0] * n,
        "parents": parents.tolist(),
        "right_children": np.where(leaf, -1, tree.right).astype(int).tolist(),
        "split_conditions": np.asarray(conditions, dtype=np.float32).tolist(),
        "split_indices": np.where(leaf, 0, tree.feature).astype(int).tolist(),
        "split_type": [0] * n,
        "sum_hessian": np.asarray(tree.cover, dtype=np.float32).tolist(),
        "tree_param": {
            "num_deleted": "0",
            "num_feature": str(n_features),
            "num_nodes": str(n),
            "size_leaf_vector": "1",
        },
    }


def booster(trees: Sequence[Tree], n_features: int) -> Any:
    """An XGBoost regression booster whose raw output is the sum of ``trees`` (base 0)."""
    import xgboost as xgb

    model = {
        "learner": {
            "attributes": {},
            "feature_names": [],
            "feature_types": [],
            "gradient_booster": {
                "model": {
                    "cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                    "gbtree_model_param": {
                        "num_parallel_tree": "1",
                        "num_trees": str(len(trees)),
                    },
                    "iteration_indptr": list(range(len(trees) + 1)),
                    "tree_info": [0] * len(trees),
                    "trees": [_tree_json(t, i, n_features) for i, t in enumerate(trees)],
                },
                "name": "gbtree",
            },
            "learner_model_param": {
                "base_score": "[0E0]",
                "boost_from_average": "0",
                "num_class": "0",
                "num_feature": str(n_features),
                "num_target": "1",
            },
            "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
        "version": [3, 0, 0],
    }
    out = xgb.Booster()
    out.load_model(bytearray(json.dumps(model).encode()))
    out.set_param({"nthread": 1})
    return out


def forest_trees(forest: Any, output: int | None) -> list[Tree]:
    """A random forest's trees, each leaf worth 1/n_trees of its prediction: class
    ``output``'s probability for a classifier, the value for a regressor (``output=None``)."""
    trees = []
    share = 1.0 / len(forest.estimators_)
    for estimator in forest.estimators_:
        t = estimator.tree_
        values = np.asarray(t.value, dtype=np.float64)[:, 0, :]
        if output is None:
            leaf_value = values[:, 0]
        else:
            totals = values.sum(axis=1)
            leaf_value = np.divide(
                values[:, output], totals, out=np.zeros(len(totals)), where=totals > 0
            )
        missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
        trees.append(
            Tree(
                np.asarray(t.children_left),
                np.asarray(t.children_right),
                np.asarray(t.feature),
                float32_condition(np.where(t.children_left < 0, 0.0, t.threshold)),
                leaf_value * share,
                np.asarray(t.weighted_n_node_samples, dtype=np.float64),
                np.asarray(missing),
            )
        )
    return trees


def hist_gradient_boosting_trees(model: Any, output: int) -> list[Tree]:
    """A HistGradientBoosting model's trees for raw output ``output`` (one per iteration)."""
    trees = []
    for predictors in model._predictors:
        nodes = predictors[output].nodes
        if nodes["is_categorical"].any():
            raise ValueError("native categorical splits are not supported")
        leaf = nodes["is_leaf"].astype(bool)
        trees.append(
            Tree(
                np.where(leaf, -1, nodes["left"]).astype(np.int64),
                np.where(leaf, -1, nodes["right"]).astype(np.int64),
                nodes["feature_idx"].astype(np.int64),
                float64_condition(np.where(leaf, 0.0, nodes["num_threshold"])),
                nodes["value"].astype(np.float64),
                nodes["count"].astype(np.float64),
                nodes["missing_go_to_left"].astype(np.uint8),
            )
        )
    return trees
