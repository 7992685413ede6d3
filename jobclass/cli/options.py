"""Options that several ``jobclass`` commands share, declared once."""

from __future__ import annotations

import argparse


def database_option(parser: argparse.ArgumentParser) -> None:
    """``--database-url``: the jobclass database (default: JOBCLASS_DATABASE_URL or the SQLite file)."""
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default: JOBCLASS_DATABASE_URL or the SQLite file in the data home)"
    )
