"""``jobclass db init``, ``jobclass db load-postings`` and ``jobclass classify`` (issue 3)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich_argparse import RichHelpFormatter

from jobclass.cli.options import database_option

if TYPE_CHECKING:
    from jobclass.pipeline.ingest import LoadStats

console = Console()
log = logging.getLogger(__name__)

#: The exit status of ``db load-postings`` when it loaded the file but rejected lines (without --allow-rejects).
REJECTS_EXIT = 3


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="create the database and load postings", formatter_class=RichHelpFormatter)
    db_sub = db.add_subparsers(dest="db_command", required=True)

    init = db_sub.add_parser("init", help="create the tables (idempotent)", formatter_class=RichHelpFormatter)
    database_option(init)
    init.set_defaults(handler=cmd_init)

    load = db_sub.add_parser(
        "load-postings",
        help="load postings from JSONL or CSV (.gz ok); loading a file twice adds nothing",
        description="Load postings from a JSONL or CSV file (.gz ok); loading a file twice adds nothing. A line "
        "that cannot be loaded (not JSON, not an object, no id, a CSV row that does not fit its header, the rest "
        "of a truncated .gz) is rejected with a reason, every reject is kept in the load_rejects table, and the "
        "rest of the file still loads. Exit status: 0 when no line was rejected; "
        f"{REJECTS_EXIT} when the file was loaded but lines were rejected (0 with --allow-rejects); "
        "2 when the load could not start (no such file, an unknown format).",
        formatter_class=RichHelpFormatter,
    )
    load.add_argument("file", nargs="?", type=Path, help="postings file (default: the bundled USAJOBS demo sample)")
    load.add_argument(
        "--ingested-at",
        help="ISO-8601 ingest time for the whole file, for a backfill (default: each batch is stamped as it commits, "
        "so no run misses it); an interval already classified must be run again to see a backfill",
    )
    load.add_argument("--source", help="source name when records have none (default: id prefix or file name)")
    load.add_argument(
        "--allow-rejects",
        action="store_true",
        help=f"exit 0, not {REJECTS_EXIT}, when lines were rejected (they are recorded in load_rejects all the same)",
    )
    database_option(load)
    load.set_defaults(handler=cmd_load_postings)

    query = db_sub.add_parser("query", help="run a SQL file (e.g. sql/queries/*.sql) and print its rows", formatter_class=RichHelpFormatter)
    query.add_argument("file", type=Path)
    query.add_argument("--limit", type=int, default=20, help="rows to print")
    database_option(query)
    query.set_defaults(handler=cmd_query)

    classify = sub.add_parser(
        "classify",
        help="classify the postings ingested in [start, end) with the champion model",
        formatter_class=RichHelpFormatter,
    )
    classify.add_argument("--start", required=True, help="interval start, ISO-8601 (a date means 00:00 UTC)")
    classify.add_argument("--end", required=True, help="interval end (exclusive)")
    classify.add_argument("--top-k", type=int, default=5)
    classify.add_argument("--chunk-size", type=int, default=1000, help="postings per chunk (bounds memory)")
    classify.add_argument("--batch-size", type=int, help="encoder batch size (default: the model's)")
    classify.add_argument("--model-version", help="a registered version instead of the champion")
    classify.add_argument("--out-dir", type=Path, help="Parquet root (default: <data home>/predictions)")
    classify.add_argument("--force", action="store_true", help="recompute chunks whose output already exists")
    database_option(classify)
    classify.set_defaults(handler=cmd_classify)



def _ready_engine(database_url: str | None):
    from jobclass.store.schema import open_database

    return open_database(database_url)


def cmd_init(args: argparse.Namespace) -> int:
    from jobclass.store.engine import masked_url

    engine = _ready_engine(args.database_url)
    console.print(f"[green]Schema ready[/green] in {masked_url(engine)}")
    return 0


def cmd_load_postings(args: argparse.Namespace) -> int:
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.pipeline.ingest import load_postings_stats
    from jobclass.store.engine import masked_url

    path = args.file or DEMO_POSTINGS
    engine = _ready_engine(args.database_url)
    stats = load_postings_stats(engine, path, ingested_at=args.ingested_at, source=args.source)
    table = Table(title=f"Loaded {path.name} into {masked_url(engine)}", show_header=False)
    for label, value in (
        ("records read", stats.read),
        ("new postings", stats.inserted),
        ("already present", stats.already_present),
        ("repeated ids in file (first kept)", stats.duplicates_in_file),
        ("lines rejected (see below and load_rejects)", stats.rejected),
        ("  of which records without id", stats.without_id),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)
    if stats.rejects:
        _print_rejects(stats)
    if stats.unread_rest is not None:
        from rich.markup import escape

        unread = stats.unread_rest
        console.print(f"[red]{unread.reason_code}:[/red] {escape(unread.detail)}; the lines before it were read.")
    if stats.rejected and not args.allow_rejects:
        console.print(
            f"[red]{stats.rejected:,} lines rejected[/red]: exit status {REJECTS_EXIT} "
            "(--allow-rejects exits 0 when rejects are expected)."
        )
        return REJECTS_EXIT
    return 0


def _print_rejects(stats: LoadStats) -> None:
    """The first rejected lines with their reason; all of them are in the load_rejects table."""
    from rich.markup import escape

    rejects = Table(title=f"Rejected lines of {escape(stats.origin)}")
    for column in ("line", "reason", "detail"):
        rejects.add_column(column)
    for reject in stats.rejects:
        rejects.add_row(str(reject.line), reject.reason_code, escape(reject.detail))
    console.print(rejects)
    if stats.rejected > len(stats.rejects):
        console.print(f"... and {stats.rejected - len(stats.rejects):,} more.")
    console.print(f"All of them, with the raw line, are in the load_rejects table (loaded_at {stats.loaded_at}).")


def cmd_query(args: argparse.Namespace) -> int:
    from jobclass.store.engine import query_rows

    engine = _ready_engine(args.database_url)
    sql = args.file.read_text(encoding="utf-8")
    comment = next((line[2:].strip() for line in sql.splitlines() if line.startswith("--")), args.file.name)
    columns, rows = query_rows(engine, sql, args.limit)
    table = Table(title=f"{args.file.name}: {comment}")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from jobclass.model.bundle import load_bundle
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import masked_url
    from jobclass.store.registry import get_champion, get_model

    engine = _ready_engine(args.database_url)
    model = get_model(engine, args.model_version) if args.model_version else get_champion(engine)
    if model is None:
        what = (
            f"model version {args.model_version!r} is not registered"
            if args.model_version
            else "no champion model is registered"
        )
        console.print(
            f"[red]Cannot classify:[/red] {what} in {masked_url(engine)}.\n"
            "Run [bold]jobclass train[/bold] first "
            "(or [bold]jobclass train --recipe bootstrap[/bold] for a quick model)."
        )
        return 1
    classifier = load_bundle(model.path)
    summary = classify_interval(
        engine,
        classifier,
        args.start,
        args.end,
        top_k=args.top_k,
        chunk_size=args.chunk_size,
        out_dir=args.out_dir,
        model_version=model.version,
        batch_size=args.batch_size,
        force=args.force,
    )
    colour = "green" if summary.status == "success" else "red"
    table = Table(title=f"Run {summary.run_id}", show_header=False)
    for label, value in (
        ("status", f"[{colour}]{summary.status}[/{colour}]" + (f" ({summary.detail})" if summary.detail else "")),
        ("model", summary.model_version),
        ("postings read", f"{summary.rows_read:,}"),
        ("predicted", f"{summary.rows_predicted:,}"),
        ("rejected", f"{summary.rows_rejected:,}"),
        ("already coded by another run of this model", f"{summary.rows_skipped:,}"),
        ("chunks (skipped as done)", f"{summary.chunks} ({summary.chunks_skipped})"),
        ("Parquet", f"{summary.out_dir}/dt={summary.partition_date}/"),
        ("seconds", f"{summary.duration_s:.1f}"),
    ):
        table.add_row(label, value)
    console.print(table)
    return 0 if summary.status == "success" else 1
