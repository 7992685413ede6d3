"""Throughput of the nightly path against the encoder's own limit and a seed-style loop.

    .venv/bin/python benchmarks/throughput.py [--n 5000] [--seed-n 300] [--model BUNDLE] [--backend B]

Each measurement runs in its own process, so that its peak RSS is its own:

- pipeline: SQLite -> validate -> clean -> embed -> heads -> Parquet + SQL (``classify_interval``);
- encoder: the bundle's encoder alone on the same cleaned texts the pipeline encodes;
- seed-style: one ``predict`` call per posting, model loaded once (on ``--seed-n`` postings), with
  the seed's encoder (torch fp32) and, when ``--backend`` is another, with that one too.

The N postings repeat the vendored USAJOBS sample with new ids; each copy after the first adds a
unit to its titles ("... - Northern Region"), so that copies are new texts and the pipeline's
duplicate-skipping (each distinct text of a chunk once) meets only the sample's own duplicates.
(A location suffix would not do: title cleaning drops "- Denver, CO" as an ad decoration.)
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
CHUNK_SIZE = 1000  # classify_interval's default
UNITS = ["Northern Region", "Southern Region", "Central Office", "Field Operations", "Headquarters Staff",
         "Regional Office", "Eastern Division", "Western Division", "Pacific Region", "Mountain Region",
         "Coastal District", "Metro Area", "Gulf Region", "Plains Region"]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def postings(n: int) -> list[dict]:
    """``n`` USAJOBS postings: the sample repeated with new ids; copy k > 0 titles end in a unit."""
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.postings.files import read_postings_file

    base = list(read_postings_file(DEMO_POSTINGS))
    out = []
    for i in range(n):
        record = dict(base[i % len(base)])
        copy = i // len(base)
        record["id"] = f"bench-{copy:03d}-{record['id']}"
        if copy:
            record["title"] = f"{record['title']} - {UNITS[(copy - 1) % len(UNITS)]}"
        out.append(record)
    return out


def posting_frame(n: int):
    """The postings as the pipeline reads them: posting_id, title, body."""
    import pandas as pd

    from jobclass.postings.rows import posting_row

    rows = [posting_row(r, default_source="bench", ingested_at=INTERVAL[0]) for r in postings(n)]
    return pd.DataFrame({"posting_id": [r["id"] for r in rows], "title": [r["title"] for r in rows], "body": [r["body"] for r in rows]})


def load_model(model: str, settings: dict):
    """The bundle with the benchmark's settings: backend, threads, token window, body words."""
    from jobclass.model.bundle import load_bundle

    classifier = load_bundle(model, backend=settings.get("backend"), threads=settings.get("threads"))
    if settings.get("max_seq_length"):
        classifier.settings.max_seq_length = classifier.encoder.max_seq_length = settings["max_seq_length"]
    if settings.get("body_words"):
        classifier.settings.max_body_words = settings["body_words"]
    return classifier


def child_pipeline(n: int, model: str, settings: dict) -> dict:
    from jobclass.pipeline.ingest import load_records
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    classifier = load_model(model, settings)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        init_schema(engine)
        load_records(engine, postings(n), source="bench", ingested_at=INTERVAL[0])
        started = time.perf_counter()
        summary = classify_interval(engine, classifier, *INTERVAL, out_dir=Path(tmp) / "predictions")
        seconds = time.perf_counter() - started
    return {"rows": summary.rows_predicted, "rejected": summary.rows_rejected, "seconds": seconds}


def encoder_texts(classifier, frame, batch: int = CHUNK_SIZE, dedupe: bool = True) -> list[list[str]]:
    """The texts the pipeline encodes, per chunk: each distinct text once if ``dedupe``.

    A posting whose body has no duty sentence is encoded from its title alone, as in the pipeline.
    """
    titles, composed = classifier.encoder_inputs(frame["title"].tolist(), frame["body"].tolist())
    n = len(frame)
    chunks = [(titles[i : i + batch], [c for c in composed[i : i + batch] if c]) for i in range(0, n, batch)]
    if not dedupe:
        return [t + c for t, c in chunks]
    return [sorted(set(t) | set(c)) for t, c in chunks]


def child_encoder(n: int, model: str, settings: dict) -> dict:
    from jobclass.model.encoder import encode

    classifier = load_model(model, settings)
    per_batch = encoder_texts(classifier, posting_frame(n), dedupe=settings.get("dedupe", True))
    started = time.perf_counter()
    for chunk in per_batch:
        encode(classifier.encoder, chunk, batch_size=classifier.settings.batch_size)
    seconds = time.perf_counter() - started
    return {"rows": n, "texts": sum(map(len, per_batch)), "seconds": seconds}


def child_seed(n: int, model: str, settings: dict) -> dict:
    classifier = load_model(model, settings)
    frame = posting_frame(n)
    started = time.perf_counter()
    for title, body in zip(frame["title"], frame["body"]):
        classifier.predict(title, body, top_k=5)
    return {"rows": n, "seconds": time.perf_counter() - started}


CHILDREN = {"pipeline": child_pipeline, "encoder": child_encoder, "seed-style": child_seed}


def run_child(kind: str, n: int, model: str, settings: dict | None = None, script: str = __file__) -> dict:
    out = subprocess.run(
        [sys.executable, script, "--child", kind, "--n", str(n), "--model", model, "--settings", json.dumps(settings or {})],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        sys.exit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["per_s"] = result["rows"] / result["seconds"]
    return result


def champion_path() -> str:
    from jobclass.store.engine import make_engine
    from jobclass.store.registry import get_champion
    from jobclass.store.schema import init_schema

    engine = make_engine()
    init_schema(engine)
    champion = get_champion(engine)
    if champion is None:
        sys.exit("No champion model: run `jobclass train` (or pass --model BUNDLE).")
    return str(champion.path)


def child_main(args: argparse.Namespace) -> None:
    result = CHILDREN[args.child](args.n, args.model, json.loads(args.settings))
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed-n", type=int, default=300)
    parser.add_argument("--model")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], help="default: the bundle's setting")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--settings", default="{}")
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    model = args.model or champion_path()
    settings = {"backend": args.backend} if args.backend else {}
    print(f"model {model}; backend {args.backend or 'bundle setting'}; {os.cpu_count()} CPUs; N={args.n}, seed-style on {args.seed_n}", flush=True)
    runs = [("encoder", args.n, settings), ("pipeline", args.n, settings), ("seed-style", args.seed_n, {"backend": "torch"})]
    if args.backend and args.backend != "torch":
        runs.append(("seed-style, same backend", args.seed_n, settings))
    results = {}
    for label, n, child_settings in runs:
        results[label] = run_child(label.split(",")[0], n, model, child_settings)
        r = results[label]
        print(f"{label:>24}: {r['rows']:>6} postings in {r['seconds']:7.1f}s = {r['per_s']:6.1f}/s, peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
    pipeline = results["pipeline"]["per_s"]
    print(f"pipeline / encoder    = {pipeline / results['encoder']['per_s']:.2f} (target >= 0.85)")
    print(f"pipeline / seed-style = {pipeline / results['seed-style']['per_s']:.1f}x (target >= 20x; seed-style = torch fp32, one call per posting)")
    if "seed-style, same backend" in results:
        print(f"pipeline / seed-style on the same backend = {pipeline / results['seed-style, same backend']['per_s']:.1f}x")


if __name__ == "__main__":
    main()
