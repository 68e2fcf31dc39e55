"""Per-layer table of any Keras model: receptive field and cost columns together, with totals.

python -m helpers.layer_table MODEL.keras [--csv OUT.csv]
python -m helpers.layer_table --zoo deepfashion_cnn --input-shape 256,256,3 --classes 46 [--csv OUT.csv]
"""

import argparse
import sys
from pathlib import Path

import keras
import pandas as pd

from helpers.flops import CONVENTION, layer_costs, totals
from helpers.receptive_field import FIELD_COLUMNS, receptive_field_table

COST_COLUMNS = [
    "layer", "type", "input_shape", "output_shape", "kernel", "strides", "filters", "params",
    "macs", "flops", "other_ops", "share",
]  # fmt: skip
COLUMNS = COST_COLUMNS + FIELD_COLUMNS


def layer_table(model: keras.Model) -> pd.DataFrame:
    """Cost columns (helpers.flops) and receptive-field columns (helpers.receptive_field), one row per layer."""
    costs = layer_costs(model)
    fields = receptive_field_table(model).drop(columns=["type", "output_shape"])
    table = costs.merge(fields, on="layer", how="left", suffixes=("", "_rf"))
    notes = zip(table["note"].fillna(""), table.pop("note_rf").fillna(""), strict=True)
    table["note"] = ["; ".join(filter(None, pair)) for pair in notes]
    return table[COLUMNS]


def _names(rows: pd.DataFrame) -> str:
    listed = ", ".join(f"{r.layer} ({r.type})" for r in rows.head(5).itertuples())
    return listed + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def format_totals(model: keras.Model, table: pd.DataFrame | None = None) -> str:
    """The totals line, the convention, and the layers left out or of unknown field."""
    t = totals(model)
    table = layer_costs(model) if table is None else table
    lines = [
        f"Total: {t['params']:,} params, {t['macs']:,} MACs, {t['flops']:,} FLOPs "
        f"({t['flops'] / 1e6:,.2f} MFLOPs), {t['other_ops']:,} other ops per image.",
        CONVENTION,
    ]
    notes = table["note"].fillna("")
    missing = table[notes.str.contains("not counted")]
    if len(missing):
        lines.append(
            f"Not counted: {len(missing)} of {len(table)} layers, so the totals leave out their "
            f"MACs and ops: {_names(missing)}."
        )
    unknown = table[notes.str.contains("receptive field unknown")]
    if len(unknown):
        lines.append(f"Receptive field unknown from: {_names(unknown)}.")
    return "\n".join(lines)


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected H,W,C such as 256,256,3, got {text!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.layer_table", description=__doc__.split("\n")[0]
    )
    parser.add_argument("model", nargs="?", type=Path, help="a saved .keras model")
    parser.add_argument("--zoo", help="a zoo model name instead of a file")
    parser.add_argument(
        "--input-shape", type=parse_shape, help="H,W,C for --zoo (default: natural)"
    )
    parser.add_argument(
        "--classes", type=int, help="classes for --zoo (default: its natural count)"
    )
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)

    import helpers.models as zoo

    if args.zoo:
        if args.zoo not in zoo.MODELS:
            parser.error(f"unknown zoo model {args.zoo!r}; choose from {sorted(zoo.MODELS)}")
        shape, classes = zoo.NATURAL_INPUTS.get(args.zoo, ((224, 224, 3), 10))
        options = {"weights": None} if args.zoo in zoo.BACKBONES else {}
        model = zoo.build_model(
            args.zoo, args.input_shape or shape, args.classes or classes, **options
        )
    elif args.model:
        if not args.model.is_file():
            print(f"error: {args.model}: no such file", file=sys.stderr)
            return 2
        try:
            model = keras.models.load_model(args.model)
        except Exception as err:  # Keras raises several types for a bad file
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"error: {args.model}: cannot load a Keras model ({first})", file=sys.stderr)
            return 2
    else:
        parser.error("give MODEL.keras or --zoo NAME")
    table = layer_table(model)
    with pd.option_context(
        "display.max_rows", None, "display.width", 250, "display.max_columns", None
    ):
        print(table.drop(columns=["rf_h", "rf_w", "start_h", "start_w"]).to_string(index=False))
    print(format_totals(model, table))
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
        print(f"Wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
