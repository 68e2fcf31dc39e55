"""Train/val/test splits grouped by product, so no product sits in two splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers.data.labelset import SPLITS

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def grouped_split(
    groups: Sequence[str],
    strata: Sequence[str],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> pd.Series:
    """Assign every row a split so that all rows of one group share it.

    Within each stratum (class), groups are shuffled with ``seed`` and each goes
    to the split whose image count lags its target the most, relative to that
    target, so even a class of three products reaches train, val and test. A
    group's stratum is its most common one, so a mixed product folder stays whole.
    """
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
        for group in members:
            lag = {
                s: (f * total - filled[s]) / (f * total)
                for s, f in zip(SPLITS, fractions, strict=True)
                if f > 0
            }
            chosen = max(lag, key=lambda s: lag[s])
            assignment[group] = chosen
            filled[chosen] += sizes[group]
    return frame["group"].map(assignment).rename("split")


def groups_in_several_splits(groups: Sequence[str], splits: Sequence[str]) -> list[str]:
    """Groups (products) whose rows fall in more than one split: a leak."""
    frame = pd.DataFrame({"group": list(groups), "split": list(splits)})
    per_group = frame.groupby("group")["split"].nunique()
    return sorted(per_group.index[per_group > 1])
