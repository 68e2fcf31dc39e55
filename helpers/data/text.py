"""Reading a dataset's text files (annotation lists, CSVs): UTF-8 only, a byte-order mark accepted;
anything else (silent mojibake otherwise) is refused, naming the file, the line and the byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from helpers.errors import AnnotationError

if TYPE_CHECKING:
    import pandas as pd


def read_text(path: Path) -> str:
    """A text file's content: UTF-8, with or without a byte-order mark; anything else refused by name."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AnnotationError(path, "not found") from None
    except OSError as err:
        raise AnnotationError(path, f"cannot be read ({err.strerror or err})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise AnnotationError(
            f"{path}:{line}",
            f"not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); save it as UTF-8",
        ) from None


def read_csv_table(path: Path, required: list[str]) -> pd.DataFrame:
    """A CSV as text columns holding at least ``required``, or an AnnotationError naming the file."""
    import io

    import pandas as pd

    try:
        table = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as err:
        raise AnnotationError(path, f"not a readable CSV ({str(err).strip()})") from None
    except pd.errors.EmptyDataError:
        raise AnnotationError(
            path, f"empty file (expected the header {','.join(required)})"
        ) from None
    missing = set(required) - set(table.columns)
    if missing:
        sole = table.columns[0] if len(table.columns) == 1 else ""
        hint = " (the delimiter looks like ';': save it with commas)" if ";" in sole else ""
        raise AnnotationError(path, f"missing columns {sorted(missing)}{hint}")
    return table
