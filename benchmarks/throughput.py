"""Throughput of the nightly path against the encoder's own limit and a seed-style loop.

    .venv/bin/python benchmarks/throughput.py [--n 5000] [--seed-n 300] [--model BUNDLE]

Each measurement runs in its own process, so that its peak RSS is its own:

- pipeline: SQLite -> validate -> clean -> embed -> heads -> Parquet + SQL (``classify_interval``);
- encoder: the bundle's encoder alone on the same cleaned texts the pipeline encodes;
- seed-style: one ``predict`` call per posting, model loaded once (on ``--seed-n`` postings).

The N postings repeat the vendored USAJOBS sample with new ids. Copies are grouped by repeat, so a
batch holds distinct texts and the pipeline's duplicate-skipping does not flatter it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INTERVAL = ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def postings(n: int) -> list[dict]:
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.postings import read_postings_file

    base = list(read_postings_file(DEMO_POSTINGS))
    out = []
    for i in range(n):
        record = dict(base[i % len(base)])
        record["id"] = f"bench-{i // len(base):03d}-{record['id']}"
        out.append(record)
    return out


def posting_frame(n: int):
    """The postings as the pipeline reads them: posting_id, title, body."""
    import pandas as pd

    from jobclass.postings import posting_row

    rows = [posting_row(r, default_source="bench", ingested_at=INTERVAL[0]) for r in postings(n)]
    return pd.DataFrame({"posting_id": [r["id"] for r in rows], "title": [r["title"] for r in rows], "body": [r["body"] for r in rows]})


def child_pipeline(n: int, model: str) -> dict:
    from jobclass.bundle import load_bundle
    from jobclass.classify import classify_interval
    from jobclass.db import init_schema, make_engine
    from jobclass.postings import load_records

    classifier = load_bundle(model)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        init_schema(engine)
        load_records(engine, postings(n), source="bench", ingested_at=INTERVAL[0])
        started = time.perf_counter()
        summary = classify_interval(engine, classifier, *INTERVAL, out_dir=Path(tmp) / "predictions")
        seconds = time.perf_counter() - started
    return {"rows": summary.rows_predicted, "rejected": summary.rows_rejected, "seconds": seconds}


def child_encoder(n: int, model: str) -> dict:
    from jobclass.bundle import load_bundle
    from jobclass.cleaning import clean_title, compose_input
    from jobclass.encoder import encode

    classifier = load_bundle(model)
    frame = posting_frame(n)
    words = classifier.settings.max_body_words
    texts = [clean_title(t) for t in frame["title"]] + [compose_input(t, b, words) for t, b in zip(frame["title"], frame["body"])]
    # The pipeline encodes each distinct text of a batch once; give the encoder the same texts.
    batch = 256
    per_batch = [sorted(set(texts[i : i + batch]) | set(texts[n + i : n + i + batch])) for i in range(0, n, batch)]
    started = time.perf_counter()
    for chunk in per_batch:
        encode(classifier.encoder, chunk, batch_size=classifier.settings.batch_size)
    seconds = time.perf_counter() - started
    return {"rows": n, "texts": sum(map(len, per_batch)), "seconds": seconds}


def child_seed(n: int, model: str) -> dict:
    from jobclass.bundle import load_bundle

    classifier = load_bundle(model)
    frame = posting_frame(n)
    started = time.perf_counter()
    for title, body in zip(frame["title"], frame["body"]):
        classifier.predict(title, body, top_k=5)
    return {"rows": n, "seconds": time.perf_counter() - started}


CHILDREN = {"pipeline": child_pipeline, "encoder": child_encoder, "seed-style": child_seed}


def run_child(kind: str, n: int, model: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--n", str(n), "--model", model],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["per_s"] = result["rows"] / result["seconds"]
    return result


def champion_path() -> str:
    from jobclass.db import init_schema, make_engine
    from jobclass.registry import get_champion

    engine = make_engine()
    init_schema(engine)
    champion = get_champion(engine)
    if champion is None:
        sys.exit("No champion model: run `jobclass train` (or pass --model BUNDLE).")
    return str(champion.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed-n", type=int, default=300)
    parser.add_argument("--model")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    args = parser.parse_args()
    if args.child:
        result = CHILDREN[args.child](args.n, args.model)
        result["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(result))
        return
    model = args.model or champion_path()
    print(f"model {model}; {os.cpu_count()} CPUs; N={args.n}, seed-style on {args.seed_n}", flush=True)
    results = {}
    for kind, n in (("encoder", args.n), ("pipeline", args.n), ("seed-style", args.seed_n)):
        results[kind] = run_child(kind, n, model)
        r = results[kind]
        print(f"{kind:>10}: {r['rows']:>6} postings in {r['seconds']:7.1f}s = {r['per_s']:6.1f}/s, peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
    print(f"pipeline / encoder    = {results['pipeline']['per_s'] / results['encoder']['per_s']:.2f} (target >= 0.85)")
    print(f"pipeline / seed-style = {results['pipeline']['per_s'] / results['seed-style']['per_s']:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
