"""Peak memory of `classify` against interval size (issue 3, acceptance 5).

Classifies N synthetic postings (the USAJOBS demo sample, cycled, with fresh ids) from a SQLite
database, once per N, each in its own subprocess, and reports that process's peak RSS
(``ru_maxrss``: model load included). Bounded chunks mean 20,000 postings should peak at no more
than 1.2x the RSS of 1,000.

    python benchmarks/memory.py                       # 1,000 and 20,000 (minutes on 2 cores)
    python benchmarks/memory.py --sizes 500 2000 --bundle data/models/<version>
    python benchmarks/memory.py --results benchmarks/RESULTS.md   # also write the figures

The model is ``--bundle``, else the registered champion, else a tiny model trained on the spot
(same encoder and label space as a real one, so the same memory profile). Not part of the tests.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY, NEXT_DAY = "2026-11-25", "2026-11-26"
LIMIT_RATIO = 1.2
SECTION = "## Memory (issue 3)"


def rss_mb() -> float:
    """Current resident set size of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- child: classify one interval and report ------------------------------------------------------
def child(database: str, bundle: str, out_dir: str, chunk_size: int) -> None:
    from jobclass.model.bundle import load_bundle
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import make_engine

    t0 = time.perf_counter()
    classifier = load_bundle(bundle)
    after_load = rss_mb()
    summary = classify_interval(
        make_engine(database), classifier, DAY, NEXT_DAY, chunk_size=chunk_size, out_dir=out_dir
    )
    print(
        json.dumps(
            {
                "rows_read": summary.rows_read,
                "predicted": summary.rows_predicted,
                "rejected": summary.rows_rejected,
                "status": summary.status,
                "rss_after_model_load_mb": round(after_load, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


# -- parent -----------------------------------------------------------------------------------
def synthetic_postings(path: Path, n: int) -> Path:
    from jobclass.paths import DEMO_POSTINGS

    with gzip.open(DEMO_POSTINGS, "rt", encoding="utf-8") as fh:
        demo = [json.loads(line) for line in fh]
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            record = dict(demo[i % len(demo)], id=f"bench:{i:07d}")
            out.write(json.dumps(record) + "\n")
    return path


def resolve_bundle(bundle: str | None, work: Path) -> str:
    if bundle:
        return bundle
    from jobclass.store.engine import make_engine
    from jobclass.store.registry import get_champion
    from jobclass.store.schema import init_schema

    engine = make_engine()
    init_schema(engine)
    champion = get_champion(engine)
    if champion is not None:
        return champion.path
    print("no --bundle and no champion: training a tiny model (a few minutes)", file=sys.stderr)
    from jobclass.model.bundle import save_bundle
    from jobclass.training.config import TrainConfig
    from jobclass.training.train import train_model

    classifier = train_model(TrainConfig.recipe("tiny"))
    return str(save_bundle(classifier, work / "tiny-model"))


def measure(n: int, bundle: str, work: Path, chunk_size: int) -> dict:
    from jobclass.pipeline.ingest import load_postings_file
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    case = work / f"n{n}"
    case.mkdir()
    database = f"sqlite:///{case / 'jobclass.db'}"
    engine = make_engine(database)
    init_schema(engine)
    load_postings_file(engine, synthetic_postings(case / "postings.jsonl", n), ingested_at=f"{DAY}T12:00:00Z")
    engine.dispose()
    command = [sys.executable, __file__, "--child", database, bundle, str(case / "out"), str(chunk_size)]
    env = {**os.environ, "JOBCLASS_HOME": str(case), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"classify of {n} postings failed:\n{done.stderr[-4000:]}")
    return {"postings": n, **json.loads(done.stdout.strip().splitlines()[-1])}


def markdown(results: list[dict], chunk_size: int, ratio: float) -> str:
    lines = [
        SECTION,
        "",
        (
            f"`python benchmarks/memory.py` on {platform.machine()} Linux, {os.cpu_count()} CPU cores, Python "
            f"{platform.python_version()}; SQLite, chunk size {chunk_size}, top-k 5; each size classified once in "
            "its own process. Peak RSS is the process's `ru_maxrss` (model load included)."
        ),
        "",
        "| postings | peak RSS (MiB) | RSS after model load (MiB) | predicted | rejected | seconds |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['postings']:,} | {r['peak_rss_mb']:.1f} | {r['rss_after_model_load_mb']:.1f} | "
            f"{r['predicted']:,} | {r['rejected']:,} | {r['seconds']:.1f} |"
        )
    verdict = "within" if ratio <= LIMIT_RATIO else "OVER"
    lines += ["", f"Ratio of peaks, largest / smallest: **{ratio:.3f}** ({verdict} the {LIMIT_RATIO}x limit).", ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace our section in RESULTS.md (or append it); other sections stay as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[following + 1 :] if following != -1 else "")
    path.write_text(text, encoding="utf-8")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--bundle", help="model bundle directory (default: champion, else a tiny model)")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--results", type=Path, help="write the figures into this Markdown file's memory section")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="jobclass-memory-") as tmp:
        work = Path(tmp)
        bundle = resolve_bundle(args.bundle, work)
        results = []
        for n in sorted(args.sizes):
            result = measure(n, bundle, work, args.chunk_size)
            print(json.dumps(result), flush=True)
            results.append(result)
    ratio = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
    section = markdown(results, args.chunk_size, ratio)
    print(section)
    if args.results:
        write_section(args.results, section)
    return 0 if ratio <= LIMIT_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
