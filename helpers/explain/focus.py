"""What a model looks at, in words: the share of the maps' mass on the garment against its area."""

from __future__ import annotations

import numpy as np

from helpers.explain.maps import Explanation


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut that maximises the between-class variance of the histogram."""
    counts, edges = np.histogram(values, bins=bins, range=(values.min(), values.max()))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    total = weight[-1]
    cum_mean = np.cumsum(counts * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    valid = (w0 > 0) & (w1 > 0)
    m0 = np.where(valid, cum_mean[:-1] / np.maximum(w0, 1), 0)
    m1 = np.where(valid, (cum_mean[-1] - cum_mean[:-1]) / np.maximum(w1, 1), 0)
    between = np.where(valid, w0 * w1 * (m0 - m1) ** 2, -1)
    return float(edges[1:][:-1][np.argmax(between)])


def garment_mask(images, min_contrast: float = 0.1) -> np.ndarray:
    """Garment (foreground) pixels of images on a near-uniform background: boolean ``[N] x H x W``.

    Grey level = the mean of the channels. Otsu's threshold splits it into two classes; the
    background is the class of the image border (its median grey level), so light garments on
    black (the embedded sample's Fashion-MNIST images) and dark garments on white both work.
    Holes inside the garment (dark prints) are filled. An image whose grey levels span less than
    ``min_contrast`` (of the [0, 1] range) has no garment: its mask is empty.
    """
    from scipy.ndimage import binary_fill_holes

    array = np.asarray(images, dtype=np.float32)
    single = array.ndim in (2, 3)
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        array = array[None]
    grey = array.mean(axis=-1)
    masks = np.zeros(grey.shape, bool)
    for i, g in enumerate(grey):
        if g.max() - g.min() < min_contrast:
            continue
        threshold = _otsu(g)
        border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
        above = g >= threshold
        foreground = ~above if np.median(border) >= threshold else above
        masks[i] = binary_fill_holes(foreground)
    return masks[0] if single else masks


def _map_array(item) -> np.ndarray:
    return item.map if isinstance(item, Explanation) else np.asarray(item, dtype=np.float64)


def focus_share(maps, masks) -> np.ndarray:
    """Per map, the share of its mass (sum of the map) on the mask's pixels; NaN for a flat map.

    ``maps``: :class:`Explanation` objects or ``H x W`` arrays; ``masks``: matching boolean masks.
    """
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    arrays = [_map_array(m) for m in (maps if isinstance(maps, (list, tuple)) else list(maps))]
    if len(arrays) != len(masks):
        raise ValueError(f"{len(arrays)} maps for {len(masks)} masks")
    shares = []
    for m, mask in zip(arrays, masks, strict=True):
        if m.shape != mask.shape:
            raise ValueError(f"map of shape {m.shape} for a mask of shape {mask.shape}")
        total = float(m.sum())
        shares.append(float(m[mask].sum()) / total if total > 0 else float("nan"))
    return np.array(shares)


def outline_band(masks, width: int | None = None) -> np.ndarray:
    """The background within ``width`` pixels of the garment (default: 5% of the image side).

    Edge-reading models look there (necklines, the gaps between sleeves and body); it is
    background, but not "the background" in the sense of the scene behind the garment.
    """
    from scipy.ndimage import binary_dilation

    masks = np.asarray(masks, bool)
    single = masks.ndim == 2
    masks = masks[None] if single else masks
    width = width or max(1, round(0.05 * min(masks.shape[1:])))
    bands = np.stack([binary_dilation(m, iterations=width) & ~m if m.any() else m for m in masks])
    return bands[0] if single else bands


def describe_focus(maps, masks, foreground: str = "garment", outline: int | None = None) -> str:
    """What the model looks at, in words: the maps' mass on the foreground against its area.

    For example: "Over 8 images the maps put 72% of their mass on the garment, which covers 45%
    of the image (a uniform map would put 45% there), and 15% on the 5-pixel band of background
    around it, which covers 12%: they favour the garment." Means are taken over the images whose
    map is not flat and whose mask is not empty (the others are counted apart). The verdict
    compares a share with its area: at least 1.25 times the area favours the foreground; else,
    if the band around it (:func:`outline_band`, ``outline`` pixels wide) gets at least 1.25
    times its area, the outline (edge-reading models: necklines, sleeve ends); else at most 0.8
    times the area favours the background; else neither.
    """
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    bands = outline_band(masks, outline)
    width = outline or max(1, round(0.05 * min(masks.shape[1:])))
    shares = focus_share(maps, masks)
    near_shares = focus_share(maps, bands)
    coverage = masks.reshape(len(masks), -1).mean(axis=1)
    band_coverage = bands.reshape(len(bands), -1).mean(axis=1)
    kept = ~np.isnan(shares) & (coverage > 0)
    flat = int(np.isnan(shares).sum())
    if not kept.any():
        empty = int((coverage == 0).sum())
        return f"No map can be read: {flat} flat, {empty} without a {foreground}."
    share, area = float(shares[kept].mean()), float(coverage[kept].mean())
    near, near_area = float(near_shares[kept].mean()), float(band_coverage[kept].mean())
    if share >= 1.25 * area:
        verdict = f"they favour the {foreground}"
    elif near >= 1.25 * near_area:
        verdict = f"they favour the {foreground}'s outline"
    elif share <= 0.8 * area:
        verdict = "they favour the background"
    else:
        verdict = f"they spread about evenly between the {foreground} and the background"
    images = "image" if kept.sum() == 1 else "images"
    text = (
        f"Over {int(kept.sum())} {images} the maps put {share:.0%} of their mass on the "
        f"{foreground}, which covers {area:.0%} of the image (a uniform map would put {area:.0%} "
        f"there), and {near:.0%} on the {width}-pixel band of background around it, which "
        f"covers {near_area:.0%}: {verdict}."
    )
    skipped = len(shares) - int(kept.sum())
    if skipped:
        text += f" ({skipped} left out: {flat} flat maps, {skipped - flat} without a {foreground}.)"
    return text
