"""The figure of explanation maps with their sanity numbers, and their deletion/insertion curves."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from helpers.plots.common import save


def explanation_gallery(
    images: np.ndarray, batch, columns: int = 4, path: Path | None = None
) -> plt.Figure:
    """Each image with its map (``batch``: :func:`helpers.explain.explain_batch`'s) and its checks'
    numbers, ✓ or ✗, in the title; below, the deletion and insertion curves against random order."""
    count = len(images)
    rows = max(1, -(-count // columns))
    fig = plt.figure(figsize=(2.6 * columns, 2.9 * rows + 3.2))
    grid = fig.add_gridspec(rows + 1, columns, height_ratios=[2.9] * rows + [3.2])
    curves = grid[rows, :].subgridspec(1, 2, wspace=0.25)
    deletion, insertion = fig.add_subplot(curves[0, 0]), fig.add_subplot(curves[0, 1])
    table = batch.table
    mark = {True: "✓", False: "✗"}.get
    for i, (image, explanation, checks) in enumerate(
        zip(images, batch.explanations, batch.checks, strict=True)
    ):
        ax = fig.add_subplot(grid[i // columns, i % columns])
        ax.imshow(np.clip(image.squeeze(), 0, 1), cmap="gray" if image.shape[-1] == 1 else None)
        ax.imshow(explanation.map, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        ax.axis("off")
        row = table.iloc[i]
        head = f"{row['true']} → " if "true" in table else ""
        ax.set_title(
            f"#{i + 1} {head}{row['predicted']} ({row['confidence']:.0%})"
            + (" · flat map" if explanation.flat else "")
            + f"\nρ {checks.rank_corr:.2f} {mark(checks.randomisation_passed)}"
            f" · del {checks.deletion_gain:+.3f} {mark(checks.deletion_passed)}"
            f" · ins {checks.insertion_gain:+.3f} {mark(checks.insertion_passed)}",
            fontsize=8,
            color=f"C{i % 10}",
        )
        panels = (
            (deletion, checks.deletion_curve, checks.random_deletion_curve, checks.deletion_auc,
             checks.random_deletion_auc),
            (insertion, checks.insertion_curve, checks.random_insertion_curve,
             checks.insertion_auc, checks.random_insertion_auc),
        )  # fmt: skip
        for ax_curve, curve, random, auc, random_auc in panels:
            label = f"#{i + 1} AUC {auc:.2f} (random {random_auc:.2f})"
            ax_curve.plot(checks.fractions, curve, color=f"C{i % 10}", label=label)
            ax_curve.plot(checks.fractions, random, color=f"C{i % 10}", linestyle="--", alpha=0.6)
    method = batch.explanations[0].method if count else ""
    for ax, name, verb in ((deletion, "Deletion", "removed"), (insertion, "Insertion", "revealed")):
        ax.set(
            title=f"{name}: most salient pixels {verb} first (dashed: random order)",
            xlabel=f"fraction of pixels {verb}", ylabel="probability of the explained class",
            xlim=(0, 1), ylim=(0, 1.02),
        )  # fmt: skip
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Where the model looked ({method}); ρ: rank correlation with a randomised model")
    fig.tight_layout()
    return save(fig, path)
