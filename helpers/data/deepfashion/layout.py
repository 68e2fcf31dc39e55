"""Where a DeepFashion copy keeps its images and lists: ``Anno_coarse/``, ``Eval/`` and
``Img/img/<Folder>/img_*.jpg`` (older copies: ``Anno/``, ``Eval/``, ``img/`` side by side).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.data.checks import relative
from helpers.errors import InputError

CATEGORY_CLOTH = "list_category_cloth.txt"
CATEGORY_IMG = "list_category_img.txt"
EVAL_PARTITION = Path("Eval/list_eval_partition.txt")

# The benchmark's 50 categories in file order (ids are 1-based positions);
# type 1 = upper body, 2 = lower body, 3 = full body.
OFFICIAL_CATEGORIES: list[tuple[str, int]] = [
    *[(name, 1) for name in ["Anorak", "Blazer", "Blouse", "Bomber", "Button-Down", "Cardigan", "Flannel", "Halter", "Henley", "Hoodie", "Jacket", "Jersey", "Parka", "Peacoat", "Poncho", "Sweater", "Tank", "Tee", "Top", "Turtleneck"]],
    *[(name, 2) for name in ["Capris", "Chinos", "Culottes", "Cutoffs", "Gauchos", "Jeans", "Jeggings", "Jodhpurs", "Joggers", "Leggings", "Sarong", "Shorts", "Skirt", "Sweatpants", "Sweatshorts", "Trunks"]],
    *[(name, 3) for name in ["Caftan", "Cape", "Coat", "Coverup", "Dress", "Jumpsuit", "Kaftan", "Kimono", "Nightdress", "Onesie", "Robe", "Romper", "Shirtdress", "Sundress"]],
]  # fmt: skip
OFFICIAL_SPELLING = {name.casefold(): name for name, _ in OFFICIAL_CATEGORIES}


@dataclass(frozen=True)
class LayoutSpec:
    """Where one official layout keeps its annotations and the folder holding ``img/``."""

    annotations: str
    images: str


LAYOUTS = {
    "current": LayoutSpec(annotations="Anno_coarse", images="Img"),
    "older": LayoutSpec(annotations="Anno", images="."),
}


@dataclass(frozen=True)
class Location:
    """A DeepFashion copy on disk: its root, the folder holding ``img/``, and the lists found."""

    root: Path
    image_root: Path
    annotations: Path | None
    partition: Path | None
    layout: str

    def rel(self, path: Path) -> str:
        """A path as the report shows it: relative to the download root, POSIX form."""
        return relative(path, self.root)

    def describe(self) -> str:
        return "; ".join([
            f"DeepFashion, {self.layout} layout, at {self.root}",
            f"images in {self.rel(self.image_root / 'img')}/",
            f"annotations in {self.rel(self.annotations)}/" if self.annotations
            else "no annotation lists (labels from folder names)",
            f"partition {self.rel(self.partition)}" if self.partition
            else "no official partition (split grouped by product)",
        ])  # fmt: skip


def locate(data_dir: Path) -> Location:
    """Find a DeepFashion copy from its download root, its ``Img/`` or its ``img/`` folder (saying
    how to unpack a still-zipped download)."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise InputError(data_dir, "no such folder")
    candidates = [data_dir]
    if data_dir.name in {"img", "Img"}:
        candidates.append(data_dir.parent)
        if data_dir.parent.name == "Img":
            candidates.append(data_dir.parent.parent)
    for root in reversed(candidates):  # the outermost one that holds images wins
        for layout, spec in LAYOUTS.items():
            image_root = root / spec.images if spec.images != "." else root
            if (image_root / "img").is_dir():
                return Location(
                    root=root,
                    image_root=image_root,
                    annotations=_annotation_folder(root),
                    partition=root / EVAL_PARTITION if (root / EVAL_PARTITION).is_file() else None,
                    layout=layout,
                )
    for root in candidates:
        for zipped in (root / "Img" / "img.zip", root / "img.zip"):
            if zipped.is_file():
                raise InputError(
                    zipped,
                    f"the images are still zipped: unpack them with `cd {zipped.parent} && unzip -q "
                    f"{zipped.name}` (or `python -m zipfile -e {zipped.name} .`), then point data_dir "
                    f"at {root}",
                )
    raise InputError(
        data_dir,
        "no img/ or Img/img/ folder: expected DeepFashion's layout (Anno_coarse/ or Anno/, Eval/, "
        "Img/img/<Words>_<Category>/img_*.jpg)",
    )


def _annotation_folder(root: Path) -> Path | None:
    for name in ("Anno_coarse", "Anno"):
        folder = root / name
        if (folder / CATEGORY_IMG).is_file() or (folder / CATEGORY_CLOTH).is_file():
            return folder
    return None
