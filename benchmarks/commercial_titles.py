"""Accuracy on commercial titles: DOL-certified employer job titles held out of training (jobclass/resources/commercial_titles).

    .venv/bin/python benchmarks/commercial_titles.py --model BUNDLE [--model BUNDLE ...] [--backend onnx-int8|torch]
        [--json benchmarks/commercial_titles.json]

Titles only (bodies empty), read through each bundle's predict_frame. Scored at 6-digit SOC (a
prediction is right when its code's XX-XXXX is the certified code's): acc@1 and acc@5, with the
detailed O*NET-code acc@1 for reference; per model a table by SOC major group and the titles/s.
Without --model, the registry's champion. H-2 certifications over-represent seasonal and
agricultural work (see the slice's README).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from jobclass.cli.model_commands import print_frame, resolve_model_path
    from jobclass.evaluation.commercial_titles import (
        commercial_titles,
        predict_titles,
        score_predictions,
        scores_by_major_group,
    )
    from jobclass.model.bundle import load_bundle
    from jobclass.onet.taxonomy import MAJOR_GROUP_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, action="append", help="a model bundle (repeat to compare; default: the champion)"
    )
    parser.add_argument("--backend", help="encoder backend (default: each bundle's)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)

    bench = commercial_titles()
    gold = bench.frame
    results = []
    for model in args.model or [None]:
        clf = load_bundle(resolve_model_path(model, None), backend=args.backend)
        started = time.perf_counter()
        predictions = predict_titles(clf, bench)
        seconds = time.perf_counter() - started
        metrics = score_predictions(predictions, gold)
        metrics["postings_per_s"] = len(gold) / seconds
        groups = scores_by_major_group(predictions, gold)
        groups.insert(1, "name", [MAJOR_GROUP_NAMES.get(g, "")[:28] for g in groups["major_group"]])
        overall = pd.DataFrame(
            [{"major_group": "all", "name": "", "n": len(gold), "acc@1": metrics["acc@1"], "acc@5": metrics["acc@5"]}]
        )
        label = f"{clf.version} ({clf.settings.encoder_backend})"
        print(
            f"model {label}: {len(gold)} titles in {seconds:.1f}s ({metrics['postings_per_s']:.1f} titles/s), {bench.content_hash}"
        )
        print_frame(
            pd.concat([groups, overall], ignore_index=True), title=f"commercial-titles, 6-digit SOC: {clf.version}"
        )
        results.append(
            {
                "model": clf.version,
                "path": str(model) if model else None,
                "backend": clf.settings.encoder_backend,
                "metrics": metrics,
                "seconds": seconds,
                "by_major_group": groups.to_dict(orient="records"),
            }
        )
    print("\ncommercial-titles (title only), 6-digit SOC unless said")
    print(
        f"{'model':42} {'backend':10} {'acc@1':>6} {'(se)':>6} {'acc@5':>6} {'detailed@1':>10} {'n':>5} {'titles/s':>8}"
    )
    for result in results:
        m = result["metrics"]
        print(
            f"{result['model']:42} {result['backend']:10} {m['acc@1']:6.3f} {m['acc@1_se']:6.3f} {m['acc@5']:6.3f} "
            f"{m['detailed_acc@1']:10.3f} {int(m['n']):5d} {m['postings_per_s']:8.1f}"
        )
    if args.json:
        payload = {"benchmark": bench.name, "benchmark_hash": bench.content_hash, "models": results}
        args.json.write_text(json.dumps(payload, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
