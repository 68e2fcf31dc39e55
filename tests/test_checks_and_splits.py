"""Image checks and grouped splits on their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fixtures import jpeg_bytes, truncated_jpeg, write_image

from helpers.data.checks import check_image
from helpers.data.splits import grouped_split, groups_in_several_splits


def test_check_image_classifies_files(tmp_path):
    good = write_image(tmp_path / "good.jpg")
    assert check_image(good).problem is None and check_image(good).note is None
    gray = write_image(tmp_path / "gray.jpg", mode="L")
    assert "grayscale" in check_image(gray).note
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert check_image(tmp_path / "empty.jpg").problem == "empty-file"
    (tmp_path / "text.jpg").write_text("hello")
    assert check_image(tmp_path / "text.jpg").problem == "not-an-image"
    (tmp_path / "cut.jpg").write_bytes(truncated_jpeg())
    assert check_image(tmp_path / "cut.jpg").problem == "corrupt-image"
    (tmp_path / "garbage.jpg").write_bytes(jpeg_bytes()[:20] + b"\x00" * 400)
    assert check_image(tmp_path / "garbage.jpg").problem in {"corrupt-image", "not-an-image"}


def test_grouped_split_keeps_groups_whole_and_hits_fractions():
    rng = np.random.default_rng(0)
    groups, strata = [], []
    for g in range(300):
        groups += [f"g{g}"] * int(rng.integers(1, 8))
        strata += [f"c{g % 5}"] * (len(groups) - len(strata))
    splits = grouped_split(groups, strata, (0.8, 0.1, 0.1), seed=1)
    assert groups_in_several_splits(groups, splits) == []
    shares = pd.Series(splits).value_counts(normalize=True)
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["test"] - 0.1) < 0.03
    for stratum in set(strata):
        in_stratum = pd.Series(splits)[np.array(strata) == stratum]
        assert set(in_stratum) == {"train", "val", "test"}


def test_grouped_split_gives_a_three_product_class_every_split():
    splits = grouped_split(["a", "a", "b", "c"], ["x"] * 4, seed=0)
    assert set(splits) == {"train", "val", "test"}


def test_grouped_split_depends_on_seed_only():
    groups = [f"g{i // 3}" for i in range(300)]
    strata = ["s"] * 300
    assert (
        grouped_split(groups, strata, seed=5).tolist()
        == grouped_split(groups, strata, seed=5).tolist()
    )
    assert (
        grouped_split(groups, strata, seed=5).tolist()
        != grouped_split(groups, strata, seed=6).tolist()
    )
