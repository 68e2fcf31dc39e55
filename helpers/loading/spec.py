"""What a model's input is made of, in one value every loader takes (a split is chosen per call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpers.data import LabelSet


@dataclass(frozen=True, eq=False)
class InputSpec:
    """The input of a model: ``labels`` read at ``image_size`` x ``image_size`` in batches of
    ``batch_size``, shuffled with ``seed``; ``cache`` (tf.data: auto, memory, disk or none) and
    ``loader`` (tf.data or ImageDataGenerator); ``augment`` is passed through as it is (the
    recipe's augmentation, or None)."""

    labels: LabelSet
    image_size: int = 256
    batch_size: int = 32
    seed: int = 0
    cache: str = "none"
    loader: str = "tf.data"
    augment: Any = None

    @classmethod
    def of(cls, labels: LabelSet, settings, augment: Any = None) -> InputSpec:
        """The input a run's ``settings`` describe (image size, batch, seed, cache, loader)."""
        names = ("image_size", "batch_size", "seed", "cache", "loader")
        return cls(labels, *(getattr(settings, name) for name in names), augment)
