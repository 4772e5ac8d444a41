"""``python -m cible.loader``: load the landing folder and print a summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cible.contract import ContractError
from cible.loader.common import LoadError
from cible.loader.core import load_landing


def main(argv: Sequence[str] | None = None) -> int:
    """Load the landing folder and print a summary; 2 with the message on a load error."""
    parser = argparse.ArgumentParser(
        prog="python -m cible.loader",
        description="Load the landing folder into the warehouse's raw schema.",
    )
    parser.add_argument("--landing", type=Path, help="landing folder (default: CIBLE_LANDING_DIR)")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (default: CIBLE_WAREHOUSE)")
    parser.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="reload only this source (repeatable; default: all)",
    )
    parser.add_argument(
        "--accept-shrink",
        action="store_true",
        help="load a required source even if empty or much shorter than at the last load",
    )
    args = parser.parse_args(argv)
    try:
        report = load_landing(
            args.landing, args.warehouse, args.sources, accept_shrink=args.accept_shrink or None
        )
    except (LoadError, ContractError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
