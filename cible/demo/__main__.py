"""Command line: ``python -m cible.demo --customers 20000 --seed 42``."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from cible import settings

from .generator import FILE_FORMATS, generate
from .profile import DEFAULT_PROFILE_NAME, builtin_profiles


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cible.demo",
        description="Generate the demo Maison: landing sources plus a truth folder.",
    )
    parser.add_argument("--customers", type=int, default=20_000, help="number of persons")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--landing",
        default=None,
        help="landing folder (default: CIBLE_LANDING_DIR or data/landing)",
    )
    parser.add_argument(
        "--truth", default=None, help="truth folder (default: CIBLE_TRUTH_DIR or data/truth)"
    )
    parser.add_argument(
        "--format",
        choices=FILE_FORMATS,
        default="mixed",
        dest="file_format",
        help="mixed CSV/JSONL/Parquet as real exports, or all Parquet",
    )
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=date(2026, 10, 31),
        help="last day of the history, YYYY-MM-DD",
    )
    parser.add_argument("--events-per-customer", type=float, default=20.0)
    parser.add_argument(
        "--chunk-size", type=int, default=50_000, help="persons generated at a time (bounds memory)"
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="personas, rates and defect levels: a YAML file or a built-in name "
        f"({', '.join(builtin_profiles())}; default {DEFAULT_PROFILE_NAME}; see "
        "cible/demo/README.md)",
    )
    return parser


def summary(manifest: dict) -> str:
    """One paragraph: rows per source, defect counts, elapsed time."""
    rows = ", ".join(f"{name} {info['rows']:,}" for name, info in manifest["sources"].items())
    defects = "; ".join(
        f"{name}: " + ", ".join(f"{key} {count:,}" for key, count in counts.items())
        for name, counts in manifest["defects"].items()
        if counts
    )
    return (
        f"Generated the demo data of profile {manifest['profile']['name']} "
        f"({manifest['parameters']['n_customers']:,} persons, seed "
        f"{manifest['seed']}, history to {manifest['end_date']}, "
        f"{manifest['parameters']['file_format']} files). Rows written: {rows}. "
        f"Defects injected: {defects}. Done in {manifest['elapsed_seconds']:.1f} s."
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        manifest = generate(
            landing_dir=args.landing or settings.landing_dir(),
            truth_dir=args.truth or settings.truth_dir(),
            n_customers=args.customers,
            seed=args.seed,
            end_date=args.end_date,
            file_format=args.file_format,
            events_per_customer=args.events_per_customer,
            chunk_size=args.chunk_size,
            profile=args.profile,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
