"""``jobclass labels export`` and ``jobclass labels import FILE.csv``: the review queue for coders
who work offline (issue 18). The CSV logic is in :mod:`jobclass.pipeline.label_files`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from rich.console import Console
from rich_argparse import RichHelpFormatter

from jobclass.cli.options import database_option

console = Console(stderr=True, soft_wrap=True)
MAX_LISTED_REJECTS = 50


def register(sub: argparse._SubParsersAction) -> None:
    labels = sub.add_parser(
        "labels", help="export the review queue to CSV, import coded CSV rows", formatter_class=RichHelpFormatter
    )
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)

    export = labels_sub.add_parser(
        "export", help="write the postings flagged for review (newest run first) as CSV", formatter_class=RichHelpFormatter
    )
    export.add_argument("-o", "--output", type=Path, help="CSV file to write (default: standard output)")
    export.add_argument("--run", help="only this prediction run (run_id)")
    export.add_argument("--major-group", help="only this SOC major group of the top code (e.g. 29)")
    export.add_argument("--model-version", help="only predictions of this model version")
    export.add_argument(
        "--state", choices=["pending", "decided", "all"], default="pending", help="undecided postings (default), or others"
    )
    export.add_argument(
        "--order", choices=["impact", "newest"], default="impact",
        help="impact (default): the postings one decision settles most of first (same title), then the least certain, "
        "and last those whose title was decided since they were coded (the next nightly re-codes them); "
        "newest: newest run first",
    )
    database_option(export)
    export.set_defaults(handler=cmd_export)

    imp = labels_sub.add_parser(
        "import",
        help="record the decisions of a CSV (posting_id, onet_code: a code or 'not codable'; optional reviewer, "
        "note, model_version); bad rows are rejected with a reason, the others recorded",
        formatter_class=RichHelpFormatter,
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--reviewer", help="reviewer for rows without one (default: your user name)")
    imp.add_argument("--dry-run", action="store_true", help="validate and report, record nothing")
    database_option(imp)
    imp.set_defaults(handler=cmd_import)



def cmd_export(args: argparse.Namespace) -> int:
    from jobclass.pipeline.label_files import write_export
    from jobclass.store.labels import QueueFilter
    from jobclass.store.schema import open_database

    engine = open_database(args.database_url)
    filters = QueueFilter(
        run_id=args.run, major_group=args.major_group, model_version=args.model_version, state=args.state,
        order=args.order,
    )
    if args.output is None:
        count = write_export(engine, sys.stdout, filters)
    else:
        with args.output.open("w", newline="", encoding="utf-8") as out:
            count = write_export(engine, out, filters)
    console.print(f"exported {count} postings" + (f" to {args.output}" if args.output else ""))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from jobclass.pipeline.label_files import import_labels, read_rows, validate_import
    from jobclass.store.schema import open_database

    engine = open_database(args.database_url)
    reviewer = args.reviewer or getpass.getuser()
    if args.dry_run:
        report = validate_import(engine, read_rows(args.file), reviewer)
    else:
        report = import_labels(engine, args.file, reviewer)
    verb = "would record" if args.dry_run else "recorded"
    console.print(
        f"{verb} {len(report.recorded)} decisions; {report.unchanged} unchanged, {report.blank} blank (skipped), "
        f"{len(report.rejected)} rejected"
    )
    for line, posting_id, reason in report.rejected[:MAX_LISTED_REJECTS]:
        console.print(f"  line {line} ({posting_id or 'no id'}): {reason}", markup=False, highlight=False)
    if len(report.rejected) > MAX_LISTED_REJECTS:
        console.print(f"  ... and {len(report.rejected) - MAX_LISTED_REJECTS} more")
    return 1 if report.rejected else 0
