"""Train/val/test splits grouped by product, so no product sits in two splits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from helpers.data.labelset import SPLITS

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def grouped_split(
    groups: Sequence[str], strata: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> pd.Series:  # fmt: skip
    """Every row's split, all rows of a group sharing one: within each stratum (a group's commonest
    class), shuffled groups go to the split lagging its target most, so 3 products reach all 3."""
    if len(fractions) != len(SPLITS) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three numbers summing to 1, got {fractions}")
    frame = pd.DataFrame({"group": list(groups), "stratum": list(strata)})
    sizes = frame.groupby("group").size()
    group_stratum = frame.groupby("group")["stratum"].agg(lambda s: s.value_counts().index[0])
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for stratum in sorted(group_stratum.unique()):
        members = np.array(sorted(group_stratum.index[group_stratum == stratum]))
        rng.shuffle(members)
        total = sizes[members].sum()
        filled = dict.fromkeys(SPLITS, 0)
        targets = {s: f * total for s, f in zip(SPLITS, fractions, strict=True) if f > 0}
        for group in members:
            lag = {s: (target - filled[s]) / target for s, target in targets.items()}
            chosen = max(lag, key=lambda s: lag[s])
            assignment[group] = chosen
            filled[chosen] += sizes[group]
    return frame["group"].map(assignment).rename("split")


def groups_in_several_splits(groups: Sequence[str], splits: Sequence[str]) -> list[str]:
    """Groups (products) whose rows fall in more than one split: a leak."""
    frame = pd.DataFrame({"group": list(groups), "split": list(splits)})
    per_group = frame.groupby("group")["split"].nunique()
    return sorted(per_group.index[per_group > 1])


def connected_groups(keys: Sequence[str], pairs: Iterable[tuple[str, str]]) -> pd.Series:
    """Each row's connected component of keys joined by ``pairs`` (e.g. near-duplicates), named by
    its first key in sorted order."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    names = sorted(set(keys))
    index = {name: i for i, name in enumerate(names)}
    linked = [(index[a], index[b]) for a, b in pairs if a in index and b in index]
    edges = np.array(linked, dtype=int).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), (len(names),) * 2)
    _, component = connected_components(graph, directed=False)
    first = pd.Series(names).groupby(component).transform("first").to_numpy()
    return pd.Series([first[index[k]] for k in keys], name="group")


def missing_splits(table: pd.DataFrame, classes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The splits each class has no rows in (classes present in every split left out)."""
    present = table.groupby("label")["split"].agg(set).to_dict()
    gaps = {c: tuple(s for s in SPLITS if s not in present.get(c, ())) for c in classes}
    return {c: missing for c, missing in gaps.items() if missing}


def gap_notes(gaps: dict[str, tuple[str, ...]], why: str) -> list[str]:
    """One note per set of missing splits, naming its classes (the first 30)."""
    by_missing: dict[tuple[str, ...], list[str]] = {}
    for label, missing in gaps.items():
        by_missing.setdefault(missing, []).append(repr(label))
    return [
        f"no {'/'.join(missing)} images for {len(names)} class(es) ({why}): "
        + ", ".join(names[:30])
        + (f" and {len(names) - 30} more" if len(names) > 30 else "")
        for missing, names in by_missing.items()
    ]
