"""Cost levers of the nightly path, each measured for speed and for accuracy, in one table.

    .venv/bin/python benchmarks/cost_levers.py [--n 2000] [--model BUNDLE]

Levers (every row runs in its own process; speed is the pipeline's postings/s on N repeated
USAJOBS postings unless the row says encoder):

- encoder backend: torch fp32, ONNX Runtime fp32, ONNX Runtime int8 (dynamic, per channel);
- token window 128 vs 256, with the body cut at 80 or 160 words;
- duplicate skipping: the encoder on every text vs on each distinct text of a chunk once, on the
  793 USAJOBS postings (their natural duplicates: repeated titles and bodies);
- threads per task vs tasks in parallel: one process with 2 threads against two processes
  (two mapped chunks, as two Celery worker slots) with 1 thread each.

Accuracy is acc@1 on reported-titles and on composed-postings (synthetic) for each setting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402  (the same postings, children and settings)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def child_accuracy(n: int, model: str, settings: dict) -> dict:
    from jobclass.evaluation.scoring import classifier_scores, evaluate_probabilities
    from jobclass.evaluation.sets import load_benchmark
    from jobclass.onet.taxonomy import load_taxonomy

    classifier = throughput.load_model(model, settings)
    taxonomy = load_taxonomy()
    out = {"rows": 1, "seconds": 1.0}
    for name in ("reported-titles", "composed-postings"):
        benchmark = load_benchmark(name, taxonomy)
        probs = classifier_scores(classifier, benchmark)
        out[name] = evaluate_probabilities(probs, benchmark, classifier.codes)["acc@1"]
    return out


def child_chunk(n: int, model: str, settings: dict) -> dict:
    """Classify one planned chunk of a shared database, starting when the parent says go."""
    from jobclass.pipeline.interval import classify_chunk
    from jobclass.store.engine import make_engine

    classifier = throughput.load_model(model, settings)
    Path(settings["ready"]).touch()
    while not Path(settings["go"]).exists():
        time.sleep(0.01)
    engine = make_engine(settings["database"])
    started = time.time()
    result = classify_chunk(engine, classifier, *throughput.INTERVAL, settings["chunk"], out_dir=settings["out_dir"])
    return {"rows": result["predicted"], "seconds": time.time() - started, "finished": time.time()}


def child_distinct_encoder(n: int, model: str, settings: dict) -> dict:
    """The encoder on the 793 distinct USAJOBS postings, every text or each distinct text once."""
    from jobclass.model.encoder import encode

    classifier = throughput.load_model(model, settings)
    frame = throughput.posting_frame(n)
    per_batch = throughput.encoder_texts(classifier, frame, batch=len(frame), dedupe=settings["dedupe"])
    started = time.perf_counter()
    for texts in per_batch:
        encode(classifier.encoder, texts, batch_size=classifier.settings.batch_size)
    return {"rows": n, "texts": sum(map(len, per_batch)), "seconds": time.perf_counter() - started}


throughput.CHILDREN.update(accuracy=child_accuracy, chunk=child_chunk, distinct=child_distinct_encoder)


def run(kind: str, n: int, model: str, settings: dict) -> dict:
    return throughput.run_child(kind, n, model, settings, script=__file__)


def parallel_tasks(n: int, model: str, settings: dict, tasks: int) -> dict:
    """``tasks`` processes classify the interval's chunks at once; postings/s over the wall time."""
    from jobclass.pipeline.ingest import load_records
    from jobclass.pipeline.interval import finish_run, plan_chunks, start_run
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(database)
        init_schema(engine)
        load_records(engine, throughput.postings(n), source="bench", ingested_at=throughput.INTERVAL[0])
        chunks = plan_chunks(engine, *throughput.INTERVAL, chunk_size=-(-n // tasks))
        procs = []
        for chunk in chunks:
            child = {**settings, "chunk": chunk, "database": database, "out_dir": f"{tmp}/out",
                     "ready": f"{tmp}/ready-{chunk['index']}", "go": f"{tmp}/go"}
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--child", "chunk", "--n", str(n), "--model", model, "--settings", json.dumps(child)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        while not all(Path(f"{tmp}/ready-{c['index']}").exists() for c in chunks):
            if any(p.poll() not in (None, 0) for p in procs):
                sys.exit(f"a chunk process failed: {[p.stderr.read()[-2000:] for p in procs if p.poll()]}")
            time.sleep(0.05)
        version = json.loads(Path(model, "metadata.json").read_text())["version"]
        run_id = start_run(engine, *throughput.INTERVAL, version, len(chunks))
        go = time.time()
        Path(f"{tmp}/go").touch()
        results = []
        for p in procs:
            out, err = p.communicate()
            if p.returncode:
                sys.exit(f"a chunk process failed:\n{err[-3000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        wall = max(r["finished"] for r in results) - go
        summary = finish_run(engine, run_id, out_dir=f"{tmp}/out")
    rows = sum(r["rows"] for r in results)
    if summary["status"] != "success":
        sys.exit(f"parallel run did not reconcile: {summary}")
    return {"rows": rows, "seconds": wall, "per_s": rows / wall, "peak_rss_mib": max(r["peak_rss_mib"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--model")
    parser.add_argument("--child", choices=sorted(throughput.CHILDREN))
    parser.add_argument("--settings", default="{}")
    parser.add_argument("--only", nargs="*", help="lever groups to run: backend window dedupe threads")
    args = parser.parse_args()
    if args.child:
        throughput.child_main(args)
        return
    model = args.model or throughput.champion_path()
    groups = set(args.only or ["backend", "window", "dedupe", "threads"])
    print(f"model {model}; {os.cpu_count()} CPUs; N={args.n}", flush=True)
    rows: list[tuple[str, str, dict, dict | None]] = []

    def row(lever: str, setting: str, speed: dict, accuracy: dict | None) -> None:
        rows.append((lever, setting, speed, accuracy))
        acc = f"reported-titles {accuracy['reported-titles']:.4f}, composed {accuracy['composed-postings']:.4f}" if accuracy else "same vectors"
        print(f"{lever:>10} | {setting:<34} | {speed['per_s']:7.1f}/s | RSS {speed['peak_rss_mib']:5.0f} MiB | acc@1 {acc}", flush=True)

    if "backend" in groups:
        for backend in ("torch", "onnx", "onnx-int8"):
            s = {"backend": backend}
            row("backend", f"{backend}, pipeline", run("pipeline", args.n, model, s), run("accuracy", 0, model, s))
            row("backend", f"{backend}, encoder alone", run("encoder", args.n, model, s), None)
    if "window" in groups:
        for backend in ("torch", "onnx-int8"):
            for window, words in ((128, 80), (256, 80), (256, 160)):
                s = {"backend": backend, "max_seq_length": window, "body_words": words}
                row("window", f"{backend}, {window} tokens, body {words} words", run("pipeline", args.n, model, s), run("accuracy", 0, model, s))
    if "dedupe" in groups:
        for backend in ("torch", "onnx-int8"):
            for dedupe in (False, True):
                s = {"backend": backend, "dedupe": dedupe}
                r = run("distinct", 793, model, s)
                row("dedupe", f"{backend}, {'distinct texts once' if dedupe else 'every text'} ({r['texts']} texts)", r, None)
    if "threads" in groups:
        for backend in ("torch", "onnx-int8"):
            row("threads", f"{backend}, 1 task x 2 threads", run("pipeline", args.n, model, {"backend": backend, "threads": 2}), None)
            row("threads", f"{backend}, 2 tasks x 1 thread", parallel_tasks(args.n, model, {"backend": backend, "threads": 1}, 2), None)
    Path(tempfile.gettempdir(), "cost_levers.json").write_text(json.dumps(rows, default=str, indent=1))


if __name__ == "__main__":
    main()
