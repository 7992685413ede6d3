"""The SQL of ``posting_labels``: the human-reviewed labels the weekly retrain learns from, the
review queue (top-1 predictions flagged ``needs_review``), and the decisions of the review page
and of ``jobclass labels import``.

A posting has one current decision (its ``posting_labels`` rows); a new decision moves the old rows
to ``posting_label_history`` (who replaced them, when) in the same transaction.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.store.engine import format_ts, utc_now

LABEL_COLUMNS = ["posting_id", "title", "body", "onet_code"]
CODED = "coded"
NOT_CODABLE = "not_codable"
DECISIONS = (CODED, NOT_CODABLE)
QUEUE_STATES = ("pending", "decided", "all")
LABEL_LOCK_KEY = 4_242_004  # PostgreSQL advisory lock id: one decision at a time per database

_REVIEWED = sa.text(
    "SELECT l.posting_id, p.title, p.body, l.onet_code, l.created_at, l.decision FROM posting_labels l "
    "JOIN job_postings p ON p.id = l.posting_id ORDER BY l.posting_id, l.created_at DESC, l.onet_code"
)

# The review queue: the latest top-1 prediction of each posting flagged for review (every posting,
# with flagged_only False; with a run_id, that run's), filtered and searched (posting id, code prefix,
# or words of the title), in one of QUEUE_ORDERS, a page at a time (see queue_page).
#
# Paging is by keyset: a page ends with a cursor (the sort key of its last row) and the next page is
# the rows after it in the same order, so a deep page costs what the first one does (no OFFSET, kept
# only for review_queue). Only the filters in use are written into the SQL, the posting's text is
# joined to the page's rows only, and the queue is counted only when asked (the pages count on their
# first page and pass the number on). "impact" needs, per memory key, how many rows of the queue share
# it: counted over the filtered queue in the same statement (CTE k), from the covering index
# ix_predictions_queue; "newest" counts only the keys on its page, up to SETTLES_CAP each.
#: The queue's orders: ``impact`` (the review queue's default: the postings one decision settles, those
#: sharing a memory key, most first, then the least certain; a posting whose key was decided since it
#: was coded settles 0 and comes last: the next nightly re-codes it from memory) and ``newest`` (newest
#: run first). Each is its sort keys, (column, descending), ending in a unique key: a total order,
#: which the keyset needs.
QUEUE_ORDERS: dict[str, tuple[tuple[str, bool], ...]] = {
    "impact": (("settles", True), ("okey", False), ("score", False), ("posting_id", False), ("model_version", False)),
    "newest": (("run_started", True), ("run_id", False), ("score", False), ("posting_id", False)),
}
_LATEST = (
    "NOT EXISTS (SELECT 1 FROM predictions l WHERE l.posting_id = p.posting_id AND l.rank = 1 "
    "AND l.predicted_at > p.predicted_at)"
)
# A pass over the whole queue asks "is there a later top-1?" only of the postings that have more than
# one (CTE multi: usually few, as the nightly codes each posting once), not of every row.
_MULTI = "multi AS (SELECT posting_id FROM predictions WHERE rank = 1 GROUP BY posting_id HAVING COUNT(*) > 1)"
_LATEST_OF_MULTI = f"(p.posting_id NOT IN (SELECT posting_id FROM multi) OR {_LATEST})"
_DECIDED = "EXISTS (SELECT 1 FROM posting_labels d WHERE d.posting_id = p.posting_id)"
# Each memory key's latest decision in the last AWAIT_HOURS (the key of a decided posting is its
# predictions' memory_key). A pending posting whose key was decided after its run started *awaits*
# the memory: the nightly's backlog step re-codes it from that decision (jobclass.pipeline.backlog),
# so a decision on it now settles nothing more; "impact" puts it last (settles 0) until the re-code
# has read the decision (the re-run's start is then later), or, where no re-code came (the backlog
# step off, a posting outside its lookback or of an older model), until the decision is older than
# AWAIT_HOURS. Only rows whose key matched look up their run's start (by primary key), so the pass
# over the queue stays on ix_predictions_queue.
AWAIT_HOURS = 36
_DECIDED_KEYS = (
    "dk AS (SELECT pl.memory_key, MAX(l.created_at) AS decided_at FROM posting_labels l "
    "JOIN predictions pl ON pl.posting_id = l.posting_id AND pl.rank = 1 "
    "WHERE pl.memory_key IS NOT NULL AND l.created_at > :await_since GROUP BY pl.memory_key)"
)
_AWAITING = (
    "CASE WHEN dk.decided_at > COALESCE((SELECT r.started_at FROM predictions p2 "
    "JOIN prediction_runs r ON r.run_id = p2.run_id WHERE p2.posting_id = q.posting_id "
    "AND p2.model_version = q.model_version AND p2.rank = 1), q.predicted_at) THEN 1 ELSE 0 END"
)
_SEARCH = (
    "(p.posting_id = :search OR p.onet_code LIKE :search_code ESCAPE '!' "
    "OR LOWER(COALESCE(j.title, '')) LIKE :search_title ESCAPE '!')"
)
_PAGE_ROW = (
    "SELECT p.posting_id, p.run_id, p.model_version, p.onet_code, p.score, p.major_group, p.predicted_at, p.source, "
    "p.memory_key, j.title, j.body, {extra} FROM page "
    "JOIN predictions p ON p.posting_id = page.posting_id AND p.model_version = page.model_version AND p.rank = 1 "
    "JOIN job_postings j ON j.id = p.posting_id ORDER BY {order}"
)
_TOP = sa.text(
    "SELECT posting_id, model_version, rank, onet_code, onet_title, score, evidence, evidence_score, source "
    "FROM predictions WHERE posting_id IN :ids AND rank <= :k ORDER BY posting_id, model_version, rank"
).bindparams(sa.bindparam("ids", expanding=True))
_CURRENT = sa.text(
    "SELECT posting_id, onet_code, reviewer, created_at, note, decision, model_version, suggested_rank, bulk_id "
    "FROM posting_labels WHERE posting_id IN :ids ORDER BY posting_id, created_at DESC"
).bindparams(sa.bindparam("ids", expanding=True))
_HISTORY = sa.text(
    "SELECT posting_id, onet_code, reviewer, created_at, note, decision, model_version, suggested_rank, bulk_id, "
    "superseded_at, superseded_by FROM posting_label_history WHERE posting_id = :posting_id "
    "ORDER BY created_at, reviewer"
)
# The memory key of a posting's latest prediction.
_KEY_OF = sa.text(
    "SELECT memory_key FROM predictions WHERE posting_id = :posting_id AND rank = 1 ORDER BY predicted_at DESC LIMIT 1"
)
_KNOWN_POSTINGS = sa.text("SELECT id FROM job_postings WHERE id IN :ids").bindparams(
    sa.bindparam("ids", expanding=True)
)
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_SUPERSEDE = sa.text(
    "INSERT INTO posting_label_history (posting_id, onet_code, reviewer, created_at, note, decision, "
    "model_version, suggested_rank, bulk_id, superseded_at, superseded_by) "
    "SELECT posting_id, onet_code, reviewer, created_at, note, decision, model_version, suggested_rank, bulk_id, "
    ":now, :reviewer FROM posting_labels WHERE posting_id = :posting_id"
)
_DELETE_CURRENT = sa.text("DELETE FROM posting_labels WHERE posting_id = :posting_id")
_INSERT_LABEL = sa.text(
    "INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at, note, decision, model_version, "
    "suggested_rank, bulk_id) VALUES (:posting_id, :onet_code, :reviewer, :created_at, :note, :decision, "
    ":model_version, :suggested_rank, :bulk_id)"
)
_REVIEW_RUNS = sa.text(
    "SELECT r.run_id, r.started_at, r.model_version FROM prediction_runs r "
    "WHERE EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = r.run_id AND p.rank = 1 AND p.needs_review = TRUE) "
    "ORDER BY r.started_at DESC, r.run_id LIMIT :limit"
)
_REVIEW_VERSIONS = sa.text(
    "SELECT DISTINCT model_version FROM predictions WHERE rank = 1 AND needs_review = TRUE ORDER BY model_version"
)


@dataclass(frozen=True)
class QueueFilter:
    """What the review queue shows: ``None`` is no filter; ``score_min <= score < score_max``."""

    run_id: str | None = None
    major_group: str | None = None
    model_version: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    state: str = "pending"
    flagged_only: bool = True  # False: every posting's predictions (the predictions browser)
    search: str | None = None  # a posting id, a code or its prefix, or words of the title
    memory_key: str | None = None  # only the postings with this memory key
    order: str = "impact"  # see QUEUE_ORDERS

    def params(self) -> dict[str, Any]:
        """The bind parameters of :meth:`where` (ValueError for an unknown state or order)."""
        if self.state not in QUEUE_STATES:
            raise ValueError(f"state must be one of {QUEUE_STATES}, not {self.state!r}")
        if self.order not in QUEUE_ORDERS:
            raise ValueError(f"order must be one of {list(QUEUE_ORDERS)}, not {self.order!r}")
        search = (self.search or "").strip() or None
        pattern = _like_literal(search.lower()) if search else ""
        params = asdict(self)
        del params["order"], params["state"], params["flagged_only"]
        return {
            **params,
            "search": search,
            "search_code": pattern + "%",
            "search_title": "%" + "%".join(pattern.split()) + "%",
        }

    def where(self, whole: bool = False) -> str:
        """The WHERE clause over ``predictions p`` (and ``job_postings j`` when searching): only the
        filters in use, so that each database plans the query it runs. ``whole``: for a pass over the
        whole queue, in a statement that starts with :meth:`ctes` (the latest top-1 checked via multi)."""
        params = self.params()
        clauses = ["p.rank = 1"]
        if self.flagged_only:
            clauses.append("p.needs_review = TRUE")
        if params["search"] is not None:
            clauses.append(_SEARCH)
        clauses.append("p.run_id = :run_id" if self.run_id is not None else _LATEST_OF_MULTI if whole else _LATEST)
        for column in ("major_group", "model_version", "memory_key"):
            if params[column] is not None:
                clauses.append(f"p.{column} = :{column}")
        if self.score_min is not None:
            clauses.append("p.score >= :score_min")
        if self.score_max is not None:
            clauses.append("p.score < :score_max")
        if self.state != "all":
            clauses.append(("NOT " if self.state == "pending" else "") + _DECIDED)
        return " AND ".join(clauses)

    def ctes(self) -> str:
        """The common table expressions a ``whole`` :meth:`source` needs ("name AS (...), " or "")."""
        return f"{_MULTI}, " if self.run_id is None else ""

    def source(self, columns: str, by_run: bool = False, whole: bool = False) -> str:
        """``SELECT columns FROM`` the queue's rows (before ordering), joining only what is needed:
        ``prediction_runs r`` (the rows of runs that have one when ``by_run``), ``job_postings j``;
        ``whole``: see :meth:`where`."""
        if by_run:
            tables = "prediction_runs r JOIN predictions p ON p.run_id = r.run_id"
        else:
            tables = "predictions p" + (" LEFT JOIN prediction_runs r ON r.run_id = p.run_id" if "r." in columns else "")
        posting = " JOIN job_postings j ON j.id = p.posting_id" if self.search and self.search.strip() else ""
        return f"SELECT {columns} FROM {tables}{posting} WHERE {self.where(whole)}"


def _like_literal(text: str) -> str:
    """``text`` matched literally by LIKE ... ESCAPE '!' (its %, _ and ! escaped)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


@dataclass(frozen=True)
class Decision:
    """One reviewer's decision on a posting: a code (``coded``) or ``not_codable`` (no code)."""

    posting_id: str
    decision: str
    onet_code: str
    reviewer: str
    model_version: str | None = None
    suggested_rank: int | None = None
    note: str | None = None
    bulk_id: str | None = None  # the same id on every label of one "apply to all N" decision

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {self.decision!r}")
        if (self.decision == CODED) != bool(self.onet_code):
            raise ValueError("a coded decision needs a code, a not-codable one has none")
        if not self.reviewer:
            raise ValueError("a decision needs a reviewer")


def read_reviewed_labels(engine: Engine) -> pd.DataFrame:
    """Reviewed labels with their posting text, one per posting (its latest decision, and only when
    that decision is a code: not-codable postings are left out): ``posting_id``, ``title``, ``body``,
    ``onet_code``, as text (missing text is empty). Superseded decisions live in
    ``posting_label_history`` and are never read here."""
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(_REVIEWED).fetchall(), columns=[*LABEL_COLUMNS, "created_at", "decision"])
    frame = frame.drop_duplicates("posting_id", keep="first")
    frame = frame[frame["decision"] == CODED].drop(columns=["created_at", "decision"])
    return frame.fillna("").astype(str).reset_index(drop=True)


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue: its rows, the number of rows in the whole queue (None when not counted),
    and the cursors of the pages before and after it (None: there is none)."""

    rows: list[dict[str, Any]]
    total: int | None
    next_cursor: str | None
    prev_cursor: str | None


def encode_cursor(order: str, row: dict[str, Any]) -> str:
    """The cursor of a row: its sort key in ``order``, as URL-safe text."""
    key = [row[column] for column, _ in QUEUE_ORDERS[order]]
    return base64.urlsafe_b64encode(json.dumps([order, *key], separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(order: str, cursor: str) -> list[Any]:
    """The sort key a cursor holds; ValueError when it is not a cursor of ``order``."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a queue cursor") from exc
    columns = QUEUE_ORDERS[order]
    if not isinstance(value, list) or len(value) != len(columns) + 1 or value[0] != order:
        raise ValueError(f"not a cursor of the {order!r} order")
    for (column, _), item in zip(columns, value[1:]):
        expected = (int,) if column == "settles" else (int, float) if column == "score" else (str,)
        if not isinstance(item, expected) or isinstance(item, bool):
            raise ValueError("not a queue cursor")
    return value[1:]


def _keyset(order: str, forward: bool, names: dict[str, str] | None = None) -> str:
    """Rows strictly after (``forward``) or before the cursor ``:c0, :c1, ...`` in ``order``:
    (k0 beyond c0) OR (k0 = c0 AND k1 beyond c1) OR ...; ``names`` maps a sort key to its SQL."""
    terms, equal = [], []
    for i, (column, descending) in enumerate(QUEUE_ORDERS[order]):
        name = (names or {}).get(column, column)
        beyond = "<" if descending == forward else ">"
        terms.append("(" + " AND ".join([*equal, f"{name} {beyond} :c{i}"]) + ")")
        equal.append(f"{name} = :c{i}")
    return "(" + " OR ".join(terms) + ")"


def _order_by(order: str, forward: bool = True, names: dict[str, str] | None = None) -> str:
    return ", ".join(f"{(names or {}).get(c, c)} {'DESC' if d == forward else 'ASC'}" for c, d in QUEUE_ORDERS[order])


# "newest" walks the runs newest first and each run's rows in order (ix_prediction_runs_started, then
# ix_predictions_run_order), so a page reads about its own rows: when every prediction's run has its
# prediction_runs row (the pipeline writes it first). A run without one sorts by its predictions'
# predicted_at; then the page falls back to sorting the whole queue.
_BY_RUN = {"run_started": "r.started_at", "run_id": "r.run_id", "score": "p.score", "posting_id": "p.posting_id"}
_RUN_IDS = (
    "WITH RECURSIVE ids (run_id) AS (SELECT MIN(run_id) FROM predictions UNION ALL "
    "SELECT (SELECT MIN(n.run_id) FROM predictions n WHERE n.run_id > ids.run_id) FROM ids WHERE ids.run_id IS NOT NULL) "
)
_RUNLESS = sa.text(
    _RUN_IDS + "SELECT COUNT(*) FROM ids WHERE ids.run_id IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM prediction_runs r WHERE r.run_id = ids.run_id)"
)


def _page_sql(filters: QueueFilter, cursor: bool, forward: bool, offset: bool, by_run: bool, count: bool) -> str:
    """The statement of one page: the keys of its rows (CTE page), then their columns and text; with
    ``count``, each row carries the number of rows in the whole queue (``total``)."""
    order = filters.order
    tail = f" LIMIT :limit{' OFFSET :offset' if offset else ''}"
    if order == "impact":
        where = f" WHERE {_keyset(order, forward)}" if cursor else ""
        columns = "p.posting_id, p.model_version, p.score, p.memory_key, p.predicted_at"
        ctes = (
            f"{filters.ctes()}q AS ({filters.source(columns, whole=True)}), "
            "k AS (SELECT memory_key, COUNT(*) AS n FROM q WHERE memory_key IS NOT NULL GROUP BY memory_key), "
            f"{_DECIDED_KEYS}, "
            # the awaiting rows, among the rows of the keys decided lately (few); settles counts the others
            f"aw AS (SELECT q.posting_id, q.model_version, q.memory_key FROM q JOIN dk ON dk.memory_key = q.memory_key "
            f"WHERE {_AWAITING} = 1), "
            "w AS (SELECT memory_key, COUNT(*) AS n FROM aw GROUP BY memory_key), "
            "s AS (SELECT q.posting_id, q.model_version, q.score, COALESCE(q.memory_key, '') AS okey, "
            "CASE WHEN aw.posting_id IS NOT NULL THEN 0 ELSE COALESCE(k.n, 1) - COALESCE(w.n, 0) END AS settles, "
            "COALESCE(k.n, 1) AS pending_n "
            "FROM q LEFT JOIN k ON k.memory_key = q.memory_key "
            "LEFT JOIN aw ON aw.posting_id = q.posting_id AND aw.model_version = q.model_version "
            "LEFT JOIN w ON w.memory_key = q.memory_key), "
            f"page AS (SELECT * FROM s{where} ORDER BY {_order_by(order, forward)}{tail})"
        )
        extra = "page.settles, page.pending_n, page.okey" + (", (SELECT COUNT(*) FROM q) AS total" if count else "")
    elif by_run:
        seek = f" AND r.started_at {'<=' if forward else '>='} :c0 AND {_keyset(order, forward, _BY_RUN)}" if cursor else ""
        source = filters.source("p.posting_id, p.model_version, p.score, r.run_id, r.started_at AS run_started", by_run=True)
        ctes = f"page AS ({source}{seek} ORDER BY {_order_by(order, forward, _BY_RUN)}{tail})"
        extra = "page.run_started"
    else:
        where = f" WHERE {_keyset(order, forward)}" if cursor else ""
        columns = "p.posting_id, p.model_version, p.score, p.run_id, COALESCE(r.started_at, p.predicted_at) AS run_started"
        ctes = (
            f"{filters.ctes()}q AS ({filters.source(columns, whole=True)}), "
            f"page AS (SELECT * FROM q{where} ORDER BY {_order_by(order, forward)}{tail})"
        )
        extra = "page.run_started"
    page_order = ", ".join(f"page.{c} {'DESC' if d == forward else 'ASC'}" for c, d in QUEUE_ORDERS[order])
    return f"WITH {ctes} " + _PAGE_ROW.format(extra=extra, order=page_order)


#: "newest" counts the rows sharing each memory key on its page up to this many (reading more would
#: cost a page of the head key tens of thousands of rows): what "apply to all" can decide at once (the
#: group it lists, :func:`pending_group`, is at most this long). ``settles_capped``: there are more.
SETTLES_CAP = 500


def _settles_of_keys(conn: Connection, filters: QueueFilter, params: dict[str, Any], keys: list[str]) -> dict[str, int]:
    """How many rows of the queue have each of ``keys``, up to SETTLES_CAP + 1 (the "newest" order's ``settles``)."""
    sql = sa.text(f"SELECT COUNT(*) FROM ({filters.source('1 AS one')} AND p.memory_key = :key LIMIT :cap) q")
    return {key: int(conn.execute(sql, {**params, "key": key, "cap": SETTLES_CAP + 1}).scalar()) for key in keys}


def count_queue(engine: Engine, filters: QueueFilter) -> int:
    """The number of rows in the whole queue (one pass over it: the pages ask on their first page only)."""
    with engine.connect() as conn:
        sql = f"WITH {filters.ctes()}q AS ({filters.source('1 AS one', whole=True)}) SELECT COUNT(*) FROM q"
        return int(conn.execute(sa.text(sql), filters.params()).scalar())


def _fetch(
    engine: Engine,
    filters: QueueFilter,
    limit: int,
    cursor: list[Any] | None,
    forward: bool,
    offset: int = 0,
    count: bool = False,
) -> tuple[list[dict[str, Any]], int | None]:
    """(rows in page order, the number of rows in the queue when ``count``, else None)."""
    params = {**filters.params(), "limit": limit, **({"offset": offset} if offset else {})}
    params |= {f"c{i}": value for i, value in enumerate(cursor or [])}
    if filters.order == "impact":
        params["await_since"] = format_ts(utc_now() - timedelta(hours=AWAIT_HOURS))
    with engine.connect() as conn:
        by_run = filters.order == "newest" and not conn.execute(_RUNLESS).scalar()
        sql = _page_sql(filters, cursor is not None, forward, bool(offset), by_run, count and filters.order == "impact")
        rows = [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
        keys = sorted({r["memory_key"] for r in rows if r["memory_key"] is not None})
        settles: dict[str, int] = {}
        if filters.order == "newest":
            settles = _settles_of_keys(conn, filters, filters.params(), keys) if keys else {}
            for row in rows:
                found = settles.get(row["memory_key"], 1) if row["memory_key"] is not None else 1
                row["settles"], row["settles_capped"] = min(found, SETTLES_CAP), found > SETTLES_CAP
        # pending_n: the group "apply to all" lists (pending_group: pending and flagged, no other
        # filter). The default view has counted it already; any other view counts its page's keys.
        group = QueueFilter()
        if replace(filters, order=group.order) == group:
            pending = {r["memory_key"]: int(r["pending_n"]) for r in rows} if filters.order == "impact" else settles
        else:
            pending = _settles_of_keys(conn, group, group.params(), keys) if keys else {}
        for row in rows:
            found = pending.get(row["memory_key"], 1) if row["memory_key"] is not None else 1
            row["pending_n"], row["pending_capped"] = min(found, SETTLES_CAP), found > SETTLES_CAP
    total = int(rows[0]["total"]) if rows and "total" in rows[0] else None
    if count and total is None:
        total = 0 if not rows and cursor is None and not offset else count_queue(engine, filters)
    return (rows if forward else rows[::-1]), total


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"settles_capped": False} | {k: v for k, v in row.items() if k not in ("okey", "run_started", "total")}


def queue_page(
    engine: Engine,
    filters: QueueFilter,
    limit: int,
    *,
    after: str | None = None,
    before: str | None = None,
    count: bool = True,
) -> QueuePage:
    """A page of the queue in ``filters.order``: the first one, the one after the cursor ``after``,
    or the one before the cursor ``before``; with the number of rows in the whole queue when
    ``count``. Each row says how many pending postings share its memory key (``pending_n``: the
    group "apply to all" lists and decides at once, :func:`pending_group`, whatever the filters; at
    most SETTLES_CAP, and ``pending_capped`` when there are more) and how many rows of this queue one
    decision settles (``settles``: in "impact", those not awaiting a re-code from an earlier decision
    on the key, 0 for an awaiting row; in "newest", every row with the key, at most SETTLES_CAP, and
    ``settles_capped`` when there are more). ValueError for a cursor of another order."""
    if after is not None and before is not None:
        raise ValueError("a page is after a cursor or before one, not both")
    cursor = decode_cursor(filters.order, after or before) if (after or before) else None
    rows, total = _fetch(engine, filters, limit + 1, cursor, forward=before is None, count=count and before is None)
    more = len(rows) > limit
    if before is not None:
        if not more:  # the first page (rows were decided since: it may have changed); start there
            return queue_page(engine, filters, limit, count=count)
        rows = rows[1:]
    else:
        rows = rows[:limit]
    has_next = more if before is None else True
    has_prev = after is not None or before is not None
    if count and total is None:
        total = count_queue(engine, filters)
    return QueuePage(
        rows=[_public(r) for r in rows],
        total=total,
        next_cursor=encode_cursor(filters.order, rows[-1]) if rows and has_next else None,
        prev_cursor=encode_cursor(filters.order, rows[0]) if rows and has_prev else None,
    )


def cursor_at(engine: Engine, filters: QueueFilter, offset: int) -> str | None:
    """The cursor after the first ``offset`` rows of the queue (None: the start, or past the end): the
    way from a page number (an old link) to the keyset, found once by OFFSET."""
    if offset <= 0:
        return None
    rows, _ = _fetch(engine, filters, 1, None, True, offset - 1)
    return encode_cursor(filters.order, rows[0]) if rows else None


def review_queue(engine: Engine, filters: QueueFilter, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Rows ``offset`` .. ``offset + limit`` of the queue (see :func:`queue_page`) and the number of rows
    in the whole queue (0 when the page is empty). By OFFSET: for small queues and tests; the pages
    and the export use :func:`queue_page`."""
    rows, total = _fetch(engine, filters, limit, None, True, offset, count=True)
    return [_public(r) for r in rows], (total or 0) if rows else 0


def pending_group(engine: Engine, posting_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """The pending postings flagged for review that share ``posting_id``'s memory key (it among
    them), least certain first: what "apply to all N" decides. Just the posting when it has no key."""
    with engine.connect() as conn:
        key = conn.execute(_KEY_OF, {"posting_id": posting_id}).scalar()
    if not key:
        rows, _ = review_queue(engine, QueueFilter(search=posting_id), 1)
        return [r for r in rows if r["posting_id"] == posting_id]
    rows, _ = review_queue(engine, QueueFilter(memory_key=key), limit)
    return rows


def top_predictions(engine: Engine, posting_ids: Sequence[str], k: int = 5) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The top ``k`` predictions of each posting, keyed by (posting_id, model_version), best first."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if not posting_ids:
        return out
    with engine.connect() as conn:
        for row in conn.execute(_TOP, {"ids": list(posting_ids), "k": k}):
            out.setdefault((row.posting_id, row.model_version), []).append(dict(row._mapping))
    return out


def current_labels(engine: Engine, posting_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The current decision of each posting that has one (the latest row)."""
    out: dict[str, dict[str, Any]] = {}
    if not posting_ids:
        return out
    with engine.connect() as conn:
        for row in conn.execute(_CURRENT, {"ids": list(posting_ids)}):
            out.setdefault(row.posting_id, dict(row._mapping))
    return out


def label_history(engine: Engine, posting_id: str) -> list[dict[str, Any]]:
    """Every decision on a posting, oldest first: the superseded ones, then the current one."""
    with engine.connect() as conn:
        old = [dict(r._mapping) for r in conn.execute(_HISTORY, {"posting_id": posting_id})]
        now = [dict(r._mapping) for r in conn.execute(_CURRENT, {"ids": [posting_id]})]
    return old + [{**row, "superseded_at": None, "superseded_by": None} for row in reversed(now)]


def known_posting_ids(engine: Engine, posting_ids: Sequence[str]) -> set[str]:
    """Which of ``posting_ids`` are in ``job_postings`` (asked in batches)."""
    found: set[str] = set()
    unique = sorted(set(posting_ids))
    with engine.connect() as conn:
        for start in range(0, len(unique), 500):
            found |= {r.id for r in conn.execute(_KNOWN_POSTINGS, {"ids": unique[start : start + 500]})}
    return found


def _record(conn: Connection, decision: Decision, now: str) -> None:
    conn.execute(_SUPERSEDE, {"now": now, "reviewer": decision.reviewer, "posting_id": decision.posting_id})
    conn.execute(_DELETE_CURRENT, {"posting_id": decision.posting_id})
    conn.execute(_INSERT_LABEL, {**asdict(decision), "created_at": now})


def record_decisions(engine: Engine, decisions: Sequence[Decision]) -> int:
    """Record decisions in one transaction: each replaces its posting's current decision, which is
    kept in ``posting_label_history``. Returns how many were recorded."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(_LOCK, {"key": LABEL_LOCK_KEY})
        now = format_ts(utc_now())
        for decision in decisions:
            _record(conn, decision, now)
    return len(decisions)


def record_decision(engine: Engine, decision: Decision) -> dict[str, Any]:
    """Record one decision (see :func:`record_decisions`) and return it as stored."""
    record_decisions(engine, [decision])
    return current_labels(engine, [decision.posting_id])[decision.posting_id]


def review_runs(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Prediction runs with postings flagged for review, newest first: run_id, started_at, model_version."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(_REVIEW_RUNS, {"limit": limit})]


def review_model_versions(engine: Engine) -> list[str]:
    """Model versions with postings flagged for review."""
    with engine.connect() as conn:
        return [r.model_version for r in conn.execute(_REVIEW_VERSIONS)]

