"""Ablation of the extra title sources (issue 15, item 2): does each one help on held-out postings?

    .venv/bin/python benchmarks/ablation_signals.py [--model DIR] [--arm SPEC ...] [--out FILE]
    .venv/bin/python benchmarks/ablation_signals.py --max-per-code 1 --benchmark-limit 200   # smoke run

Trains the heads (logistic regression, nearest-title index, profile; calibrated hybrid: no
fine-tuning) on one encoder once per arm: the O*NET corpus alone (``baseline``), then with each
labelled source of ``jobclass.training.title_sources`` on its own, then all together; and reports acc@1 /
acc@5 on reported-titles and on real-postings (acc@1, acc@5, lenient acc@1; title and body, as
the nightly reads them) as a Markdown table. Benchmark titles never train (see
``jobclass.training.title_sources.benchmark_title_keys``), and the validation titles that calibrate the
hybrid are the same in every arm.

``--model`` is a sentence-transformers directory or a model bundle (its ``encoder/``); the default
is the base MiniLM. Every distinct text is encoded once for all arms, and the embeddings are kept
in ``--cache`` (default ``<data home>/cache/ablation/``) for the next run on the same encoder.
An arm is ``+``-joined source names, ``:weak`` appended to take the weak rows too
(``esco:weak``), or ``baseline``. The first arm encodes the whole corpus (the longest step, once
per encoder); each later arm encodes only its new titles, then fits the heads (a logistic
regression over every training row: the ``:weak`` ESCO rows about double them). A smoke run
(``--max-per-code 1 --extra-max-per-code 1 --benchmark-limit 200``, two arms) took 5 minutes on
2 busy CPU cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from jobclass.training.title_sources import LABELLED_SOURCES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("ablation")

DEFAULT_ARMS = ("baseline", "dmtf", "dol_h2", "esco", "dmtf+dol_h2+esco", "dmtf+dol_h2+esco:weak")
BENCHMARKS = ("reported-titles", "real-postings")
COLUMNS = {"acc@1": "acc@1", "acc@5": "acc@5", "lenient_acc@1": "lenient acc@1"}


@dataclass(frozen=True)
class Arm:
    name: str
    sources: tuple[str, ...]
    weak: bool

    @classmethod
    def parse(cls, spec: str) -> Arm:
        """``baseline``, or source names joined by ``+`` with an optional ``:weak``."""
        body, _, flag = spec.partition(":")
        if flag not in ("", "weak"):
            raise ValueError(f"arm {spec!r}: only ':weak' may follow the sources")
        sources = () if body == "baseline" else tuple(body.split("+"))
        unknown = set(sources) - set(LABELLED_SOURCES)
        if unknown:
            raise ValueError(f"arm {spec!r}: {sorted(unknown)} are not labelled title sources {LABELLED_SOURCES}")
        return cls(name=spec, sources=sources, weak=flag == "weak")


class CachedEncoder:
    """A sentence-transformers model behind a text -> embedding cache, for ``jobclass.model.encoder.encode``.

    Every arm trains on the same O*NET corpus and is scored on the same benchmarks: each distinct
    text is encoded once, whatever the arms, and the cache outlives the run (``save``).
    """

    def __init__(self, model: Any, path: Path | None) -> None:
        self.model = model
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path is not None and path.is_file():
            with np.load(path) as data:
                texts = json.loads(data["texts_json"].tobytes().decode("utf-8"))
                self.vectors = dict(zip(texts, data["vectors"]))
            log.info("%d cached embeddings read from %s", len(self.vectors), path)

    def get_embedding_dimension(self) -> int:
        return self.model.get_embedding_dimension()

    def encode(self, texts: list[str], batch_size: int = 64, show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        """Normalised embeddings of ``texts`` (what ``jobclass.model.encoder.encode`` asks for)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            started = time.perf_counter()
            vectors = self.model.encode(
                missing, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=show_progress_bar,
            )
            self.vectors.update(zip(missing, np.asarray(vectors, dtype=np.float32)))
            self.dirty = True
            log.info("encoded %d new texts in %.0fs (%d cached)", len(missing), time.perf_counter() - started, len(self.vectors))
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        # The texts as UTF-8 JSON bytes: a numpy string array pads every text to the longest.
        texts_json = np.frombuffer(json.dumps(texts).encode("utf-8"), dtype=np.uint8)
        np.savez(tmp, texts_json=texts_json, vectors=np.stack([self.vectors[t] for t in texts]))
        tmp.replace(self.path)
        self.dirty = False


def encoder_dir(model: str | None) -> Path:
    """The sentence-transformers directory of ``model`` (a bundle's ``encoder/``), or the base MiniLM."""
    from jobclass.model.base_encoders import minilm_dir

    path = Path(model) if model else minilm_dir()
    return path / "encoder" if (path / "encoder" / "modules.json").is_file() else path


def default_cache(model_dir: Path) -> Path:
    """One cache file per encoder: its path and its weights' size and time."""
    from jobclass.paths import cache_dir

    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    stamp = "|".join([str(model_dir.resolve()), *(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)])
    return cache_dir() / "ablation" / f"embeddings-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.npz"


def available_benchmarks(names: tuple[str, ...], taxonomy: Any) -> tuple[str, ...]:
    """``names`` less those that do not load here (real-postings before its labels exist)."""
    from jobclass.evaluation.sets import load_benchmark

    kept = []
    for name in names:
        try:
            load_benchmark(name, taxonomy)
        except (ValueError, FileNotFoundError, ImportError) as exc:
            log.warning("benchmark %s left out: %s", name, exc)
            continue
        kept.append(name)
    return tuple(kept)


def run_arm(arm: Arm, base_config: Any, taxonomy: Any, encoder: CachedEncoder) -> dict[str, Any]:
    from jobclass.training.train import train_model

    config = replace(base_config, extra_title_sources=arm.sources, extra_titles_weak=arm.weak, name=f"ablation-{arm.name}")
    started = time.perf_counter()
    classifier = train_model(config, taxonomy, encoder=encoder)
    encoder.save()
    return {
        "arm": arm.name,
        "extra": classifier.metadata["extra_titles"],
        "train_rows": classifier.metadata["training_corpus_size"]["train"],
        "metrics": classifier.metadata["metrics"],
        "seconds": time.perf_counter() - started,
    }


def markdown(results: list[dict[str, Any]], benchmarks: tuple[str, ...]) -> str:
    """One row per arm: the rows it added, then each benchmark's metrics (lenient acc@1 where defined)."""
    header = ["arm", "extra rows", "train rows"]
    for name in benchmarks:
        shown = [c for c in COLUMNS if any(c in r["metrics"][name] for r in results)]
        header += [f"{name} {COLUMNS[c]}" for c in shown]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in results:
        extra = ", ".join(f"{k} {v:,}" for k, v in r["extra"].items()) or "-"
        cells = [r["arm"], extra, f"{r['train_rows']:,}"]
        for name in benchmarks:
            cells += [f"{r['metrics'][name][c]:.3f}" for c in COLUMNS if any(c in q["metrics"][name] for q in results)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="sentence-transformers directory or model bundle (default: base MiniLM)")
    parser.add_argument("--arm", action="append", dest="arms", help=f"an arm (repeatable; default: {', '.join(DEFAULT_ARMS)})")
    parser.add_argument("--benchmark", action="append", dest="benchmarks", help=f"default: {', '.join(BENCHMARKS)}")
    parser.add_argument("--extra-max-per-code", type=int, help="TrainConfig.extra_titles_max_per_code")
    parser.add_argument("--not-in-index", action="store_true", help="extra titles train the LR and profile heads only")
    parser.add_argument("--max-per-code", type=int, help="cap the O*NET corpus per code (smoke runs)")
    parser.add_argument("--benchmark-limit", type=int, help="score a fixed subsample of each benchmark (smoke runs)")
    parser.add_argument("--cache", type=Path, help="embedding cache file (default: one per encoder under the cache dir)")
    parser.add_argument("--no-cache", action="store_true", help="keep embeddings in memory only")
    parser.add_argument("--device", default="auto", help="encoder device: auto, cpu or cuda")
    parser.add_argument("--out", type=Path, help="also write the table (and the command) to this Markdown file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from jobclass.model.encoder import load_encoder
    from jobclass.onet.taxonomy import load_taxonomy
    from jobclass.training.config import TrainConfig

    arms = [Arm.parse(spec) for spec in args.arms or DEFAULT_ARMS]
    taxonomy = load_taxonomy()
    benchmarks = available_benchmarks(tuple(args.benchmarks or BENCHMARKS), taxonomy)
    model_dir = encoder_dir(args.model)
    cache = None if args.no_cache else args.cache or default_cache(model_dir)
    encoder = CachedEncoder(load_encoder(model_dir, device=args.device), cache)
    base_config = replace(
        TrainConfig.recipe("bootstrap"), benchmarks=benchmarks, benchmark_limit=args.benchmark_limit,
        max_per_code=args.max_per_code, extra_titles_max_per_code=args.extra_max_per_code,
        extra_titles_in_index=not args.not_in_index, show_progress=False,
    )
    results = []
    for arm in arms:
        results.append(run_arm(arm, base_config, taxonomy, encoder))
        log.info("arm %s done in %.0fs: %s", arm.name, results[-1]["seconds"], results[-1]["metrics"])
    table = markdown(results, benchmarks)
    print(f"\nEncoder: {model_dir}\n\n{table}")
    if args.out:
        command = "benchmarks/ablation_signals.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.out.write_text(f"Encoder `{model_dir}`; `{command.strip()}`.\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
