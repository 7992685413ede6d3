"""Security review (issue 6), each point tested.

* Every SQL statement is parameterised: injection text in titles, bodies, model versions and
  registry reasons is stored verbatim and is harmless (tables intact, counts right); and a scan of
  the source flags SQL built by string formatting from anything but allow-listed constants.
* Credentials come only from the environment or Airflow Connections and never reach logs,
  stderr, exception messages or the ``prediction_runs`` table.
* Plugin endpoints refuse oversized (and otherwise hostile) bodies with a 4xx, never a 500.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import socket
import sys
import traceback
from pathlib import Path

import airflow_fixtures  # noqa: F401  (configures Airflow before anything imports it)
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import jobclass.store.engine
from jobclass.pipeline.ingest import load_records
from jobclass.pipeline.interval import classify_interval
from jobclass.store.engine import DatabaseUnavailable, make_engine, wait_for_database
from jobclass.store.postings import read_posting_range
from jobclass.store.schema import init_schema

REPO = Path(__file__).resolve().parents[2]
DAY, NEXT_DAY = "2026-11-25", "2026-11-26"
PASSWORD = "Pa55-w0rd-Never-Logged"
TABLES = ["job_postings", "predictions", "prediction_runs", "rejected_postings", "posting_labels", "model_versions"]

INJECTIONS = [
    "Robert'); DROP TABLE job_postings;--",
    "' OR '1'='1' --",
    '"; DELETE FROM predictions; --',
    "x'; UPDATE model_versions SET status = 'champion' WHERE '1' = '1",
    "1; SELECT pg_sleep(30); --",
    "Nurse' UNION SELECT version, path FROM model_versions --",
    "\\'; DROP TABLE rejected_postings; -- (backslash escape)",
    "/* comment */ Nurse; TRUNCATE prediction_runs",
    ":id_from :run_id %(title)s %s {0} {title} $1 ?",  # bind and format placeholders
    "Registered Nurse'; --",
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# =============================================================================================
# Parameterised SQL: injection text is data
# =============================================================================================
def test_injection_text_is_stored_verbatim_and_harmless(engine, tiny_classifier, tmp_path):
    from jobclass.store import registry

    records = [
        {
            "id": f"inj-{i:02d}{text}",
            "title": text,
            "body": f"{text} Provide patient care in a hospital ward.",
            "source": "x'); DROP TABLE job_postings;--",
        }
        for i, text in enumerate(INJECTIONS)
    ]
    stats = load_records(engine, records, ingested_at=f"{DAY}T08:00:00Z")
    assert stats.inserted == len(INJECTIONS)
    frame = read_posting_range(engine, DAY, NEXT_DAY, None, None)
    stored = dict(zip(frame["posting_id"], zip(frame["title"], frame["body"], frame["source"])))
    for r in records:
        assert stored[r["id"]] == (r["title"], r["body"], "x'); DROP TABLE job_postings;--")

    version = "v1'); DROP TABLE predictions;--"
    summary = classify_interval(
        engine, tiny_classifier, DAY, NEXT_DAY, top_k=2, chunk_size=4, out_dir=tmp_path / "out", model_version=version
    )
    assert (summary.status, summary.rows_read) == ("success", len(INJECTIONS))
    assert summary.rows_predicted + summary.rows_rejected == len(INJECTIONS)

    reason = "better'; UPDATE model_versions SET status = 'champion'; --"
    registry.register_model(engine, version, tmp_path / "m", {"note": INJECTIONS[0]}, INJECTIONS[1], reason=reason)
    registry.record_decision(engine, version, "rejected", INJECTIONS[2], metrics={"why": INJECTIONS[3]})
    [model] = registry.list_models(engine)
    assert (model.version, model.status, model.reason, model.benchmark_hash) == (
        version,
        "rejected",
        INJECTIONS[2],
        INJECTIONS[1],
    )
    assert model.metrics == {"note": INJECTIONS[0], "why": INJECTIONS[3]}
    assert registry.get_champion(engine) is None

    assert set(TABLES) <= set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM job_postings")).scalar_one() == len(INJECTIONS)
        assert conn.execute(sa.text("SELECT COUNT(*) FROM prediction_runs")).scalar_one() == 1
        versions = conn.execute(sa.text("SELECT DISTINCT model_version FROM predictions")).scalars().all()
        run = conn.execute(sa.text("SELECT run_id, status FROM prediction_runs")).one()
    assert versions == [version] and run == (summary.run_id, "success") and version in run[0]


# -- the source scan --------------------------------------------------------------------------
SCANNED = sorted(
    [*(REPO / "jobclass").rglob("*.py"), *(REPO / "dags").glob("*.py"), *(REPO / "plugins").glob("*.py")]
)
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|WHERE|VALUES|FROM|JOIN|AND|ORDER BY|LIMIT)\b"
    r"|[<>=]\s*:\w+"  # a comparison with a bind parameter: a WHERE fragment
)

# What may be formatted into SQL text, per file, and why it is safe. Nothing here comes from a
# caller's data: values always travel as bind parameters (``:name``).
ALLOWED = {
    ("jobclass/store/engine.py", "SQLITE_BUSY_TIMEOUT_MS"): "module int constant (PRAGMA takes no bind parameters)",
    ("jobclass/store/postings.py", "_SELECT"): "module constant: the select list",
    ("jobclass/store/postings.py", "_IN_INTERVAL"): "module constant: the interval condition, with bind parameters",
    ("jobclass/store/postings.py", "' AND '.join(conditions)"): "constant condition strings with bind parameters",
    ("jobclass/store/registry.py", "_SELECT"): "module constant: the select list",
    ("jobclass/store/predictions.py", "', '.join(PREDICTION_TABLE_COLUMNS)"): "column names from a module constant",
    ("jobclass/store/predictions.py", "', '.join((':' + c for c in PREDICTION_TABLE_COLUMNS))"): "bind names from the same",
    ("jobclass/store/runs.py", "in_interval"): "a constant local fragment with bind parameters",
    ("jobclass/store/runs.py", "where"): "from _range_filter: constant column names and bind parameters",
    ("jobclass/store/runs.py", "id_where"): "from _range_filter: constant column names and bind parameters",
    ("jobclass/store/runs.py", "column"): "_range_filter's column: only ever the literals 'posting_id' or 'id'",
    ("jobclass/store/runs.py", "c"): "_range_filter's conditions: '<column> >= :id_from' / '< :id_to'",
    ("jobclass/store/runs.py", "_CODED_HERE"): "module constant: 'coded by this run' with bind parameters",
    ("jobclass/store/runs.py", "_CODED_ELSEWHERE"): "module constant: 'coded by another run of the model' with bind parameters",
    ("jobclass/store/runs.py", "in_chunk"): "a constant local fragment with bind parameters and _range_filter's id_where",
    ("jobclass/store/postings.py", "SQLITE_BUSY_TIMEOUT_MS"): "module int constant (PRAGMA takes no bind parameters)",
    ("jobclass/store/run_stats.py", "i"): "a bin index from range(bins): an int, and the bind name :edge_<int>",
    ("jobclass/store/run_stats.py", "score_bin"): "the CASE built above from those ints and bind names only",
    ("jobclass/store/labels.py", '_LATEST'): 'module constant: the latest-top-1 condition (no values)',
    ("jobclass/store/labels.py", '_RUN_IDS'): 'module constant: the recursive CTE over run ids (no values)',
    ("jobclass/store/labels.py", '_DECIDED_KEYS'): "module constant: each memory key's latest decision (a bind parameter)",
    ("jobclass/store/labels.py", '_AWAITING'): 'module constant: whether a queue row awaits the memory (no values)',
    ("jobclass/store/labels.py", "' OFFSET :offset' if offset else ''"): 'a literal with a bind parameter, or nothing',
    ("jobclass/store/labels.py", 'columns'): "the select list: literal column lists written in labels.py, never a caller's text",
    ("jobclass/store/labels.py", 'tables'): "source()'s FROM: one of two literal join clauses",
    ("jobclass/store/labels.py", 'posting'): "source()'s optional literal JOIN of job_postings",
    ("jobclass/store/labels.py", 'self.where(whole)'): 'QueueFilter.where: literal conditions with bind parameters (:search, :run_id, ...)',
    ("jobclass/store/labels.py", 'filters.ctes()'): 'QueueFilter.ctes: the literal CTE _MULTI, or nothing',
    ("jobclass/store/labels.py", "filters.source('1 AS one')"): 'QueueFilter.source with a literal column list',
    ("jobclass/store/labels.py", "filters.source('1 AS one', whole=True)"): 'QueueFilter.source with a literal column list',
    ("jobclass/store/labels.py", 'filters.source(columns, whole=True)'): 'QueueFilter.source with the literal column list above it',
    ("jobclass/store/labels.py", 'where'): 'a keyset condition from _keyset (constant column names, bind parameters :c0..), or nothing',
    ("jobclass/store/labels.py", '_order_by(order, forward)'): "ORDER BY from QUEUE_ORDERS' constant columns (order is checked against QUEUE_ORDERS)",
    ("jobclass/store/labels.py", '_order_by(order, forward, _BY_RUN)'): 'the same, with the constant column names of _BY_RUN',
    ("jobclass/store/labels.py", 'tail'): 'LIMIT :limit with an optional OFFSET :offset: bind parameters only',
    ("jobclass/store/labels.py", 'name'): '_keyset: a sort column from QUEUE_ORDERS or _BY_RUN (constants)',
    ("jobclass/store/labels.py", 'i'): '_keyset: the int position of a sort key, in the bind name :c<i>',
    ("jobclass/store/labels.py", '_keyset(order, forward)'): 'the keyset condition: constant column names, bind parameters :c0..',
    ("jobclass/store/labels.py", '_keyset(order, forward, _BY_RUN)'): "the same, with _BY_RUN's constant column names",
    ("jobclass/store/labels.py", 'source'): 'QueueFilter.source with a literal column list (the by-run page)',
    ("jobclass/store/labels.py", 'seek'): 'the literal by-run seek condition with bind parameters, or nothing',
    ("jobclass/store/labels.py", "'<=' if forward else '>='"): 'one of two literal operators',
}
MODULE_CONSTANTS = {
    "SQLITE_BUSY_TIMEOUT_MS", "_SELECT", "_IN_INTERVAL", "PREDICTION_TABLE_COLUMNS", "_CODED_HERE", "_CODED_ELSEWHERE",
    "_LATEST", "_RUN_IDS",
}


def _literal_text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return ""


def sql_formatting_sites() -> list[tuple[str, int, str]]:
    """(file, line, interpolated expression) for every SQL-looking string built by f-string,
    ``%`` , ``.format`` or ``+`` from a non-literal."""
    sites = []
    for path in SCANNED:
        rel = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr) and SQL_WORDS.search(_literal_text(node)):
                sites += [(rel, node.lineno, ast.unparse(v.value)) for v in node.values
                          if isinstance(v, ast.FormattedValue)]
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
                if SQL_WORDS.search(_literal_text(node.left)):
                    if not isinstance(node.right, ast.Constant):
                        sites.append((rel, node.lineno, ast.unparse(node.right)))
                elif isinstance(node.op, ast.Add) and SQL_WORDS.search(_literal_text(node.right)):
                    if not isinstance(node.left, ast.Constant):
                        sites.append((rel, node.lineno, ast.unparse(node.left)))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and SQL_WORDS.search(_literal_text(node.func.value))
            ):
                sites += [(rel, node.lineno, ast.unparse(a)) for a in [*node.args, *(k.value for k in node.keywords)]]
    return sites


def test_no_sql_is_built_from_values_by_string_formatting():
    sites = sql_formatting_sites()
    unexplained = [s for s in sites if (s[0], s[2]) not in ALLOWED]
    assert not unexplained, (
        "SQL text built by formatting from something not allow-listed; pass values as bind "
        f"parameters (sa.text(':name') + a dict), or allow-list a constant with its reason: {unexplained}"
    )
    stale = set(ALLOWED) - {(f, e) for f, _, e in sites}
    assert not stale, f"allow-list entries that no longer occur (remove them): {stale}"


def test_allow_listed_sql_fragments_are_constants():
    """The allow-listed module names are bound once, at module level, to literals only."""
    for path in SCANNED:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in MODULE_CONSTANTS for t in node.targets
            ):
                names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
                # only literals and other UPPER_CASE module constants ('c': a comprehension variable)
                assert all(n == "c" or n.isupper() for n in names), (path.name, ast.unparse(node))
    source = (REPO / "jobclass" / "store" / "runs.py").read_text(encoding="utf-8")
    calls = re.findall(r"_range_filter\(([^)]*)\)", source)
    assert calls and all(c in ("chunk", 'chunk, "id"') or c.startswith("chunk: dict") for c in calls), calls


def test_the_scan_catches_formatted_sql(tmp_path, monkeypatch):
    """The scan itself works: it flags each way of formatting a value into SQL."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(conn, title, n):\n"
        "    conn.execute(f\"SELECT * FROM job_postings WHERE title = '{title}'\")\n"
        "    conn.execute(\"DELETE FROM predictions WHERE rank = %s\" % n)\n"
        "    conn.execute(\"UPDATE model_versions SET reason = '{}'\".format(title))\n"
        "    conn.execute(\"SELECT 1 FROM job_postings WHERE id = '\" + title + \"'\")\n"
        "    conn.execute(f\"{title} >= :id_from\")\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "SCANNED", [bad])
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert sorted(line for _, line, _ in sql_formatting_sites()) == [2, 3, 4, 5, 6]


# =============================================================================================
# Credentials never in logs
# =============================================================================================
def test_no_credentials_in_the_source():
    url_with_password = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s'\"/]+)@")
    found = []
    for path in SCANNED:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for m in url_with_password.finditer(line):
                if m.group(1) not in ("***", "PASSWORD", "password") and not m.group(1).startswith("{"):
                    found.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not found, f"credentials belong in Airflow Connections or the environment, not the code: {found}"


def test_an_unreachable_database_never_logs_its_password(caplog, capfd):
    url = f"postgresql://jobclass:{PASSWORD}@127.0.0.1:{closed_port()}/jobclass"
    caplog.set_level(logging.DEBUG)
    engine = make_engine(url)
    with pytest.raises(DatabaseUnavailable) as info:
        wait_for_database(engine, attempts=2, max_wait_s=0.01)
    everything = "".join(traceback.format_exception(info.value)) + repr(engine) + str(engine.url)
    out, err = capfd.readouterr()
    assert "jobclass:***@" in str(info.value)
    for text in (everything, caplog.text, out, err):
        assert PASSWORD not in text
    engine.dispose()


def test_a_run_never_logs_or_stores_the_password(database_url, tiny_classifier, tmp_path, caplog, capfd,
                                                 monkeypatch):
    """A whole classify run, logged at DEBUG with SQL echo on, then a failing one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite URLs carry no password")
    url = sa.make_url(database_url).set(username="postgres", password=PASSWORD)
    engine = make_engine(url.render_as_string(hide_password=False), echo=True)
    try:
        wait_for_database(engine, attempts=1)
    except DatabaseUnavailable:
        pytest.skip("this PostgreSQL checks passwords; the test needs trust authentication")
    monkeypatch.setattr(jobclass.store.engine, "DB_RETRY_MULTIPLIER", 0.001)
    caplog.set_level(logging.DEBUG)
    init_schema(engine)
    load_records(engine, [{"id": f"p{i}", "title": "Registered Nurse", "body": "Care"} for i in range(6)],
                 ingested_at=DAY)
    ok = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=2, chunk_size=3, out_dir=tmp_path / "a")
    assert ok.status == "success"

    def fail_writes(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO predictions"):
            raise engine.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    sa.event.listen(engine, "before_cursor_execute", fail_writes)
    with pytest.raises(DatabaseUnavailable) as info:
        classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=2, chunk_size=3, out_dir=tmp_path / "a",
                          force=True)
    sa.event.remove(engine, "before_cursor_execute", fail_writes)
    with engine.connect() as conn:
        stored = json.dumps([dict(r) for r in conn.execute(sa.text("SELECT * FROM prediction_runs")).mappings()])
    out, err = capfd.readouterr()
    assert "postgres:***@" in str(info.value) and "failed" in stored
    assert "SELECT" in caplog.text  # the SQL echo was on: statements and parameters were logged
    for text in (caplog.text, out, err, stored, "".join(traceback.format_exception(info.value))):
        assert PASSWORD not in text
    engine.dispose()


def test_dag_and_plugin_url_helpers_mask_passwords(monkeypatch, caplog):
    """The one URL helper masks the password; a Connection that gives no valid URL is named, never quoted."""
    from jobclass.airflow.connection import database_url
    from jobclass.store.engine import masked_url

    assert PASSWORD not in masked_url(f"postgresql+psycopg://u:{PASSWORD}@h:5432/db")
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AIRFLOW_CONN_JOBCLASS_DB", f"postgresql://jobclass:{PASSWORD}@db.example:5432/jc")
    assert PASSWORD in database_url() and PASSWORD not in caplog.text
    bad = json.dumps({"conn_type": "postgres", "extra": {"sqlalchemy_url": f"not a url {PASSWORD}"}})
    monkeypatch.setenv("AIRFLOW_CONN_JOBCLASS_DB", bad)
    with pytest.raises(ValueError, match="does not give a valid SQLAlchemy URL") as info:
        database_url()
    assert PASSWORD not in "".join(traceback.format_exception(info.value)) and PASSWORD not in caplog.text


def test_plugin_with_an_unreachable_connection_never_leaks_the_password(monkeypatch, caplog, capfd):
    """The API reads the ``jobclass_db`` Connection from the environment; the database is down."""
    from jobclass.airflow.api.app import create_app

    monkeypatch.setenv("AIRFLOW_CONN_JOBCLASS_DB", f"postgresql://jobclass:{PASSWORD}@127.0.0.1:{closed_port()}/jc")
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(auth=None), raise_server_exceptions=False) as client:
        responses = [client.get("/models"), client.post("/predict", json={"title": "Nurse"}), client.get("/runs")]
    assert [r.status_code for r in responses] == [503, 503, 503]
    out, err = capfd.readouterr()
    assert "jobclass database unavailable" in caplog.text  # the failure is logged, with its traceback
    for text in (caplog.text, out, err, *(r.text for r in responses)):
        assert PASSWORD not in text


# =============================================================================================
# Plugin: oversized and hostile bodies are a 4xx, never a 500
# =============================================================================================
@pytest.fixture
def client(tmp_path):
    from jobclass.airflow.api.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    init_schema(engine)
    with TestClient(create_app(engine_factory=lambda: engine, auth=None), raise_server_exceptions=False) as c:
        yield c
    engine.dispose()


def _limit() -> int:
    from jobclass.airflow.api.limits import MAX_REQUEST_BYTES

    return MAX_REQUEST_BYTES


@pytest.mark.parametrize(("method", "path"), [("post", "/predict"), ("get", "/models"), ("get", "/runs"),
                                              ("get", "/health"), ("post", "/nope")])
def test_every_endpoint_refuses_an_oversized_body(client, method, path):
    big = b"x" * (_limit() + 1)
    response = client.request(method.upper(), path, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text

    def stream():  # no Content-Length: counted while it streams in
        for _ in range(8):
            yield b"y" * (_limit() // 4)

    response = client.request(method.upper(), path, content=stream(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_body_at_the_limit_is_parsed_and_validated(client):
    """Just under the request limit, the fields' own limits still apply: 422, not 413 or 500."""
    head, tail = b'{"title": "Nurse", "body": "', b'"}'
    body = head + b"b" * (_limit() - len(head) - len(tail)) + tail
    assert len(body) == _limit()
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "limit is 100,000 bytes" in response.text




@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 200_000, id="deeply-nested-arrays"),
        pytest.param(b'{"title":' * 50_000, id="deeply-nested-objects"),
        pytest.param(b'{"title": "Nurse", "top_k": ' + b"9" * 400_000 + b"}", id="huge-integer"),
        pytest.param(json.dumps({f"k{i}": i for i in range(30_000)}).encode(), id="many-keys"),
        pytest.param(json.dumps({"title": "Nurse", "body": "\u00e9" * 60_000}).encode(), id="multibyte-body"),
        pytest.param(json.dumps({"title": ["Nurse"] * 50_000}).encode(), id="huge-array-for-a-string"),
        pytest.param(b'{"title": "Nurse", "top_k": 1e999}', id="infinite-number"),
        pytest.param(b'{"title": "Nurse", "top_k": NaN}', id="nan"),
    ],
)
def test_hostile_bodies_are_a_4xx(client, body):
    assert len(body) <= _limit()
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])


def test_an_oversized_query_string_is_a_4xx(client):
    assert client.get("/runs", params={"limit": "9" * 10_000}).status_code == 422
