"""``jobclass memory list``, ``jobclass memory retire KEY`` and ``jobclass memory recode``: the
coded-title memory on the command line (the review page's Memory section lists and retires too; the
nightly DAG's ``recode_backlog`` task recodes)."""

from __future__ import annotations

import argparse
import getpass

from rich.console import Console
from rich.table import Table
from rich_argparse import RichHelpFormatter

from jobclass.cli.options import database_option

console = Console(soft_wrap=True)


def register(sub: argparse._SubParsersAction) -> None:
    memory = sub.add_parser(
        "memory",
        help="the coded-title memory: what reviewers decided per title, used by the nightly without a retrain",
        formatter_class=RichHelpFormatter,
    )
    memory_sub = memory.add_subparsers(dest="memory_command", required=True)
    listing = memory_sub.add_parser("list", help="the entries, largest first", formatter_class=RichHelpFormatter)
    listing.add_argument("--search", help="words that must all be in the title key")
    listing.add_argument("--conflicts", action="store_true", help="only entries whose reviews disagree")
    listing.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    database_option(listing)
    listing.set_defaults(handler=cmd_list)
    retire = memory_sub.add_parser(
        "retire",
        help="retire an entry: its decisions so far stop counting (the labels stay; the retrain still uses them)",
        formatter_class=RichHelpFormatter,
    )
    retire.add_argument("key", help="the memory key, as `jobclass memory list` shows it")
    retire.add_argument("--reviewer", help="who retires it (default: your user name)")
    retire.add_argument("--note", help="why")
    database_option(retire)
    retire.set_defaults(handler=cmd_retire)
    recode = memory_sub.add_parser(
        "recode",
        help="now, not at the next nightly: re-run the recent intervals whose pending postings a review has settled since",
        formatter_class=RichHelpFormatter,
    )
    recode.add_argument("--days", type=int, default=30, help="how far back (intervals ending in the last N days; default 30)")
    recode.add_argument("--top-k", type=int, default=5, help="predictions kept per posting (default 5, as the nightly)")
    recode.add_argument("--chunk-size", type=int, default=2000, help="postings per chunk (default 2000, as the nightly)")
    database_option(recode)
    recode.set_defaults(handler=cmd_recode)


def cmd_list(args: argparse.Namespace) -> int:
    from jobclass.pipeline.memory import memory_table
    from jobclass.store.schema import open_database

    table = memory_table(open_database(args.database_url), search=args.search, conflicts_only=args.conflicts)
    out = Table("key", "code", "reviews", "agree", "conflict", "last by", "on")
    for row in table.head(args.limit).itertuples(index=False):
        out.add_row(
            row.memory_key, row.codes if row.conflict else row.onet_code, str(row.n), str(row.n_agree),
            "yes" if row.conflict else "", row.last_reviewer, row.last_at[:10],
        )
    console.print(out)
    console.print(f"{len(table)} entries ({int(table['conflict'].sum()) if len(table) else 0} conflicting)")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    from jobclass.pipeline.memory import memory_table
    from jobclass.store.memory import retire
    from jobclass.store.schema import open_database

    engine = open_database(args.database_url)
    if args.key not in set(memory_table(engine)["memory_key"]):
        raise ValueError(f"no memory entry {args.key!r}: see `jobclass memory list`")
    at = retire(engine, args.key, args.reviewer or getpass.getuser(), args.note)
    console.print(f"retired {args.key!r} at {at}: later postings with this title go to the model until reviewed again")
    return 0


def cmd_recode(args: argparse.Namespace) -> int:
    from jobclass.pipeline.backlog import recode_backlog
    from jobclass.pipeline.nightly import LazyClassifier
    from jobclass.store.engine import utc_now
    from jobclass.store.registry import get_champion
    from jobclass.store.schema import open_database

    engine = open_database(args.database_url)
    champion = get_champion(engine)
    if champion is None:
        console.print("[red]No champion model is registered:[/red] run [bold]jobclass train[/bold] first.")
        return 1
    # the registered version, as the nightly's rows carry it (LazyClassifier loads the bundle only if a run needs it)
    classifier = LazyClassifier({"version": champion.version, "path": str(champion.path)})
    summaries = recode_backlog(engine, classifier, utc_now(), lookback_days=args.days, top_k=args.top_k, chunk_size=args.chunk_size)
    for summary in summaries:
        console.print(f"re-ran {summary.run_id}: {summary.status}, {summary.rows_predicted:,} predicted")
    console.print(f"{len(summaries)} intervals re-run" if summaries else "nothing to re-run: no pending posting has a title decided since it was coded")
    return 0 if all(s.status == "success" for s in summaries) else 1
