"""Rebuild the embedded photos (``data/photos/``) from the published clothing-dataset-small.

    python bench/embed_photos.py SMALL_DIR IMAGES_CSV [--out data/photos] [--per-contributor 16]

Whole photos from alexeygrigorev/clothing-dataset-small (CC0 1.0), upright, resized to 300 px on
the long side, one folder per class (hats and shoes left out: DeepFashion's category list has
neither), and ``photos.csv`` (``file, image, sender_id, label, source_split``) with each photo's
contributor from the full set's ``images.csv``. At most ``--per-contributor`` photos of one class
come from one contributor, so a few prolific contributors do not make up the sample.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import atomic
from helpers.data.photos import CLASSES, PHOTOS_DIR, POOL_COLUMNS, POOL_FILE
from helpers.data.text import read_csv_table
from helpers.errors import InputError

LONG_SIDE = 300
QUALITY = 85


def embed_photos(
    small_dir: Path, images_csv: Path, out_dir: Path = PHOTOS_DIR, per_contributor: int = 16
) -> pd.DataFrame:
    """Write the embedded photos from the published small set (see the module docstring)."""
    small_dir, out_dir = Path(small_dir), Path(out_dir)
    senders = read_csv_table(images_csv, ["image", "sender_id"]).set_index("image")["sender_id"]
    rows = []
    for split_dir in sorted(p for p in small_dir.iterdir() if p.is_dir()):
        for folder, (label, _) in CLASSES.items():
            for photo in sorted((split_dir / folder).glob("*.jpg")):
                if photo.stem in senders.index:
                    rows.append((photo, photo.stem, senders[photo.stem], label, split_dir.name))
    table = pd.DataFrame(rows, columns=["source", "image", "sender_id", "label", "source_split"])
    if table.empty:
        raise InputError(small_dir, "no photos of the known classes with a sender_id found")
    table = table.sort_values("image").groupby(["sender_id", "label"]).head(per_contributor)
    staging = Path(tempfile.mkdtemp(prefix=".photos.partial-", dir=out_dir.parent))
    for row in tqdm(list(table.itertuples()), desc="embedding photos", leave=False):
        target = staging / row.label / f"{row.image}.jpg"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(small_jpeg(row.source))
    table = table.assign(file=table["label"] + "/" + table["image"] + ".jpg")
    atomic.write_csv(staging / POOL_FILE, table[POOL_COLUMNS].sort_values("file"))
    if (small_dir / "LICENSE").is_file():
        shutil.copyfile(small_dir / "LICENSE", staging / "LICENSE")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return table


def small_jpeg(source: Path) -> bytes:
    """The whole photo, upright, ``LONG_SIDE`` px on its long side, as a JPEG without metadata."""
    from helpers.images import read_image

    image = Image.fromarray(read_image(source))
    image.thumbnail((LONG_SIDE, LONG_SIDE), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=QUALITY, optimize=True)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/embed_photos.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("small_dir", type=Path, help="clothing-dataset-small as published")
    parser.add_argument("images_csv", type=Path, help="the full set's images.csv (sender_id)")
    parser.add_argument("--out", type=Path, default=PHOTOS_DIR)
    parser.add_argument("--per-contributor", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        table = embed_photos(args.small_dir, args.images_csv, args.out, args.per_contributor)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in args.out.rglob("*.jpg")) / 2**20
    print(
        f"Wrote {len(table)} photos ({size:.1f} MB) of {table['sender_id'].nunique()} contributors to {args.out}"
    )
    print(table["label"].value_counts().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
