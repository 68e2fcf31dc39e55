"""What a model looks at, in words: the share of the maps' mass on the garment against its area."""

import numpy as np

from helpers.explain.maps import Explanation


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut that maximises the between-class variance of the histogram."""
    counts, edges = np.histogram(values, bins=bins, range=(values.min(), values.max()))
    weight, total = np.cumsum(counts), counts.sum()
    cum_mean = np.cumsum(counts * ((edges[:-1] + edges[1:]) / 2))
    w0, w1 = weight[:-1], total - weight[:-1]
    valid = (w0 > 0) & (w1 > 0)
    m0 = np.where(valid, cum_mean[:-1] / np.maximum(w0, 1), 0)
    m1 = np.where(valid, (cum_mean[-1] - cum_mean[:-1]) / np.maximum(w1, 1), 0)
    between = np.where(valid, w0 * w1 * (m0 - m1) ** 2, -1)
    return float(edges[1:][:-1][np.argmax(between)])


def garment_mask(images, min_contrast: float = 0.1) -> np.ndarray:
    """Garment pixels on a near-uniform background (Otsu's threshold; the border is background)."""
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


def focus_share(maps, masks) -> np.ndarray:
    """Per map (an Explanation or array), the share of its mass on its mask; NaN if flat."""
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    arrays = [m.map if isinstance(m, Explanation) else np.asarray(m, np.float64) for m in maps]
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
    """The background within ``width`` pixels of the garment (default: 5% of the side)."""
    from scipy.ndimage import binary_dilation

    masks = np.asarray(masks, bool)
    single = masks.ndim == 2
    masks = masks[None] if single else masks
    width = width or max(1, round(0.05 * min(masks.shape[1:])))
    bands = np.stack([binary_dilation(m, iterations=width) & ~m if m.any() else m for m in masks])
    return bands[0] if single else bands


def describe_focus(maps, masks, foreground: str = "garment", outline: int | None = None) -> str:
    """What the model looks at, in words: the maps' share on the foreground against its area."""
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    bands = outline_band(masks, outline)
    width = outline or max(1, round(0.05 * min(masks.shape[1:])))
    maps = list(maps)
    shares, near_shares = focus_share(maps, masks), focus_share(maps, bands)
    coverage, band_coverage = masks.mean(axis=(1, 2)), bands.mean(axis=(1, 2))
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
