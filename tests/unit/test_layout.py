"""The package's architecture, as checks: no import cycle, the subpackages in one-way layers, SQL only in
the storage layer, Airflow only in ``jobclass.airflow``, and each connection id declared once."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "jobclass"
SQL_WORDS = re.compile(r"SELECT|INSERT|UPDATE|DELETE")  # as `grep -rn "SELECT\|INSERT\|UPDATE\|DELETE"`

#: The subpackages (and top-level modules) of jobclass, lowest layer first. A subpackage imports only
#: from layers below its own, at a module's top or inside a function: never from its own layer's
#: others, never upwards. The README's "Where things are" shows the same order.
LAYERS: list[tuple[str, ...]] = [
    ("columns", "hashing", "paths"),  # column lists, content hashes, where files are
    ("model",),  # text cleaning, the encoder, the heads, the classifier and its bundle
    ("memory", "onet", "store"),  # the coded-title memory; the O*NET taxonomy and corpus; all SQL
    ("postings",),  # postings files read, their text decoded, a record as a job_postings row
    ("evaluation",),  # benchmark sets, metrics, scoring, baselines, reports, drift
    ("training",),  # title sources, fine-tuning, heads, calibration, recipes
    ("pipeline",),  # ingest, validation, the interval run, nightly, retrain, gate, review
    ("airflow", "cli"),  # the two front ends: Airflow (tasks, the plugin's API) and the command line
    ("__main__",),  # python -m jobclass
]


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


def subpackage(module: str) -> str:
    """``jobclass.store.labels`` -> ``store``; a top-level module is its own: ``jobclass.paths`` -> ``paths``."""
    return module.split(".")[1]


def subpackage_graph(graph: dict[str, set[str]]) -> dict[str, dict[str, list[str]]]:
    """{subpackage: {subpackage it imports: ["importing module -> imported module", ...]}}."""
    found: dict[str, dict[str, list[str]]] = {subpackage(m): {} for m in graph if m != "jobclass"}
    for module, deps in graph.items():
        for dep in deps:
            if module != "jobclass" and subpackage(dep) != subpackage(module):
                found[subpackage(module)].setdefault(subpackage(dep), []).append(f"{module} -> {dep}")
    return found


def imports_against_the_layers(graph: dict[str, dict[str, list[str]]], layers: list[tuple[str, ...]]) -> list[str]:
    """Each import of a subpackage from its own layer or one above it, as "importer -> imported"."""
    rank = {name: level for level, names in enumerate(layers) for name in names}
    return sorted(
        link
        for importer, deps in graph.items()
        for imported, links in deps.items()
        if rank[imported] >= rank[importer]
        for link in links
    )


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


def test_the_subpackages_import_each_other_in_one_direction_only():
    graph = subpackage_graph(import_graph())
    assert {"evaluation", "training", "pipeline", "store", "onet", "postings"} <= set(graph)
    assert cycles({name: set(deps) for name, deps in graph.items()}) == []


def test_each_subpackage_has_one_declared_layer_and_imports_only_from_the_layers_below():
    graph = subpackage_graph(import_graph())
    declared = [name for layer in LAYERS for name in layer]
    assert len(declared) == len(set(declared)), "a subpackage is declared twice"
    assert sorted(declared) == sorted(graph), "every subpackage and top-level module has a layer"
    assert imports_against_the_layers(graph, LAYERS) == []


def test_the_layer_check_finds_an_import_upwards_and_one_within_a_layer():
    graph = {
        "low": {},
        "mid": {"low": ["x.mid.a -> x.low.b"], "side": ["x.mid.a -> x.side.c"]},
        "side": {},
        "high": {"mid": ["x.high.d -> x.mid.a"]},
    }
    assert imports_against_the_layers(graph, [("low",), ("mid", "side"), ("high",)]) == ["x.mid.a -> x.side.c"]
    assert imports_against_the_layers(graph, [("low", "side"), ("high",), ("mid",)]) == ["x.high.d -> x.mid.a"]


def test_the_store_writes_predictions_without_the_ml_stack_or_the_memory():
    """The store knows the prediction columns from :mod:`jobclass.columns`, not from the classifier."""
    code = (
        "import sys, jobclass.store.predictions; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'nltk', 'torch', 'jobclass.model.classifier', "
        "'jobclass.memory.apply') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


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
