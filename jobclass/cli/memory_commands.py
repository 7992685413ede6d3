"""``jobclass memory list`` and ``jobclass memory retire KEY``: the coded-title memory on the command
line (the review page's Memory section does the same)."""

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
