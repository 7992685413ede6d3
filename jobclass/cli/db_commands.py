"""``jobclass db ...`` and ``jobclass classify``: owned by the storage work (issue 3)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass
