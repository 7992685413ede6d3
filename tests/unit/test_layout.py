"""The package's architecture, as checks: no import cycle, SQL only in the storage layer, Airflow only
in ``jobclass.airflow``, and each connection id declared once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "jobclass"
SQL_WORDS = re.compile(r"SELECT|INSERT|UPDATE|DELETE")  # as `grep -rn "SELECT\|INSERT\|UPDATE\|DELETE"`


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    return modules


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        deps = {m for m in _imports(path) if m in modules and m != name and m != "jobclass"}
        graph[name] = {d for d in deps if not name.startswith(d + ".")}  # a package's __init__ is not a cycle
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle_even_through_function_level_imports():
    graph = import_graph()
    assert len(graph) > 30, "the walk found the package"
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_sql_is_only_in_the_storage_layer():
    outside = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "store" not in path.relative_to(PACKAGE).parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SQL_WORDS.search(line)
    ]
    assert outside == []


def test_only_jobclass_airflow_imports_airflow():
    importers = sorted(
        str(path.relative_to(REPO))
        for path in PACKAGE.rglob("*.py")
        if any(m == "airflow" or m.startswith("airflow.") for m in _imports(path))
        and "airflow" not in path.relative_to(PACKAGE).parts[:1]
    )
    assert importers == []


def test_the_dags_and_the_plugin_import_jobclass_only_through_its_airflow_package_and_pipelines():
    assert not (REPO / "dags" / "jobclass_common.py").exists()
    for path in [*sorted((REPO / "dags").glob("*.py")), *sorted((REPO / "plugins").glob("*.py"))]:
        jobclass_imports = {m for m in _imports(path) if m.startswith("jobclass")}
        assert jobclass_imports, path
        assert all(m.startswith(("jobclass.airflow", "jobclass.pipeline")) for m in jobclass_imports), (path, jobclass_imports)


def test_the_plugin_file_only_registers_the_app():
    plugin = REPO / "plugins" / "jobclass_api.py"
    assert len(plugin.read_text().splitlines()) <= 40


def test_the_connection_id_is_declared_once():
    literal = re.compile(r"""["']jobclass_db["']""")
    declared = [
        str(path.relative_to(REPO))
        for path in [*PACKAGE.rglob("*.py"), *(REPO / "dags").glob("*.py"), *(REPO / "plugins").glob("*.py")]
        if literal.search(path.read_text())
    ]
    assert declared == ["jobclass/airflow/connection.py"]
