"""The ``jobclass`` command line: model commands and database/pipeline commands."""

from __future__ import annotations

import argparse
import logging
import sys

from rich_argparse import RichHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    from jobclass.cli import db_commands, label_commands, memory_commands, model_commands

    parser = argparse.ArgumentParser(
        prog="jobclass", description="Code job postings to O*NET-SOC 2019 occupations.", formatter_class=RichHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    model_commands.register(sub)
    db_commands.register(sub)
    label_commands.register(sub)
    memory_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
