"""mpnet's budget curve on 2 cores and its distillation into MiniLM (issue 28, items 1 and 2).

    JOBCLASS_HOME=... .venv/bin/python benchmarks/distillation.py --work DIR [--teacher-steps 1000]
        [--minilm-steps 1000] [--student-epochs 1] [--until teacher|teacher-heads|student|student-heads|minilm]
        [--json FILE]

Each stage keeps its result in ``--work`` and is skipped when it is there, so a killed run goes on
where it stopped (the teacher's fine-tuning also resumes from its checkpoint):

1. ``teacher``: all-mpnet-base-v2 fine-tuned with the default recipe (proxy softmax on the full
   corpus, the default's batch, learning rate and sequence length), capped at ``--teacher-steps``
   (one epoch of the corpus is about 1,000 steps; the MiniLM default runs 3 epochs, 2,997 steps);
2. ``teacher-heads``: the heads and their calibration on the teacher, scored on the benchmarks as
   ``jobclass train`` scores a model (torch), each text's embedding cached in ``--work``; saved as
   ``DIR/bundle-mpnet-STEPS``;
3. ``student``: base MiniLM distilled from the teacher (jobclass.training.distill): the teacher's
   embeddings of the fine-tuning texts and of the questionnaires' federal titles and duty items,
   cut to 384 dimensions, rotated towards MiniLM's own, fitted by mean squared error;
4. ``student-heads``: the default recipe's heads and calibration on the student, saved as a bundle
   (``DIR/bundle-student-STEPS``) that ``benchmarks/real_postings.py``, ``commercial_titles.py`` and
   ``throughput.py`` take with ``--model`` (int8, as the nightly runs);
5. ``student-finetuned`` (with ``--student-finetune``): the student, then the default recipe's
   proxy fine-tuning on it (2,997 steps) and its heads: distil first, fine-tune after
   (``DIR/bundle-student-ft-STEPS``);
6. ``minilm``: MiniLM fine-tuned the same way at ``--minilm-steps`` (0: skipped), then its heads,
   saved as ``DIR/bundle-minilm-STEPS``: the other encoder at the same budget, for the curve.

Run ``make mpnet`` first. Nothing here reads the benchmarks' postings for training: the corpus and
the questionnaires are filtered of benchmark titles as every training source is.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablation_signals import CachedEncoder  # noqa: E402
from encoder_comparison import body_speed  # noqa: E402

log = logging.getLogger("distillation")
STAGES = ("teacher", "teacher-heads", "student", "student-heads", "student-finetuned", "minilm")
COLUMNS = ("acc@1", "acc@5", "lenient_acc@1", "major_acc@1")


def summary(classifier: Any, taxonomy: Any, seconds: float) -> dict[str, Any]:
    """What the table reports of a trained classifier: its metrics, CV review figures, timings and speed."""
    metrics = classifier.metadata["metrics"]
    return {
        "train_s": round(seconds, 1),
        "timings_s": classifier.metadata.get("timings_s"),
        "finetune": classifier.metadata.get("finetune"),
        "metrics": {b: {k: metrics[b].get(k) for k in COLUMNS} for b in metrics},
        "review": classifier.metadata.get("review", {}),
        "postings_per_s_torch": round(body_speed(classifier, taxonomy), 1),
    }


def teacher_config(steps: int, work: Path) -> Any:
    from jobclass.model.base_encoders import MPNET
    from jobclass.training.config import TrainConfig

    return replace(
        TrainConfig(), base_encoder=MPNET, max_steps=steps, name=f"mpnet-{steps}",
        checkpoint_dir=str(work / f"mpnet-{steps}.ckpt"), checkpoint_every=50,
    )


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from jobclass.model.base_encoders import MINILM, base_encoder_dir
    from jobclass.model.bundle import save_bundle
    from jobclass.model.encoder import encode, load_encoder
    from jobclass.onet.taxonomy import load_taxonomy
    from jobclass.training.config import TrainConfig
    from jobclass.training.dataset import training_corpus
    from jobclass.training.distill import DistillSettings, align_to, distillation_texts, fit_distillation, reduce_to
    from jobclass.training.finetune import finetune_to_dir, proxy_training_rows
    from jobclass.training.title_sources import benchmark_title_keys
    from jobclass.training.train import train_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="where each stage keeps its result")
    parser.add_argument("--teacher-steps", type=int, default=1000)
    parser.add_argument("--minilm-steps", type=int, default=1000, help="0: skip the MiniLM arm")
    parser.add_argument("--student-epochs", type=float, default=1.0)
    parser.add_argument("--student-lr", type=float, default=DistillSettings.learning_rate)
    parser.add_argument(
        "--student-finetune", action="store_true", help="also run the default fine-tuning on the student, then its heads"
    )
    parser.add_argument("--until", choices=STAGES, default=STAGES[-1])
    parser.add_argument("--json", type=Path, help="also write every stage's figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    results_file = work / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.is_file() else {}

    def done(stage: str, figures: dict[str, Any]) -> None:
        # Re-read first: another run of this script on the same --work (another stage) may have written.
        results.update(json.loads(results_file.read_text()) if results_file.is_file() else {})
        results[stage] = figures
        results_file.write_text(json.dumps(results, indent=2, default=float))
        print(json.dumps({stage: figures}, default=float), flush=True)

    def wanted(stage: str) -> bool:
        return STAGES.index(stage) <= STAGES.index(args.until)

    def heads(stage: str, config: TrainConfig, bundle: str, started: float, **encoder: Any) -> None:
        """The heads and calibration on an encoder (``encoder_path=``, or the default MiniLM), saved
        as ``work/bundle``, the stage's figures recorded with its time since ``started``."""
        classifier = train_model(config, taxonomy, **encoder)
        save_bundle(classifier, work / bundle)
        done(stage, summary(classifier, taxonomy, time.perf_counter() - started))

    taxonomy = load_taxonomy()
    config = teacher_config(args.teacher_steps, work)
    teacher_dir = work / f"mpnet-{args.teacher_steps}"
    cache = work / f"mpnet-{args.teacher_steps}-embeddings.npz"

    if not (teacher_dir / "modules.json").is_file():
        started = time.perf_counter()
        finetune_to_dir(config, teacher_dir, taxonomy)
        done(f"teacher-{args.teacher_steps}", {"steps": args.teacher_steps, "finetune_s": round(time.perf_counter() - started, 1)})
    if not wanted("teacher-heads"):
        return 0

    teacher = CachedEncoder(load_encoder(teacher_dir, device=config.device), cache)
    teacher_bundle = work / f"bundle-mpnet-{args.teacher_steps}"
    if f"teacher-heads-{args.teacher_steps}" not in results or not teacher_bundle.is_dir():
        started = time.perf_counter()
        classifier = train_model(replace(config, show_progress=False), taxonomy, encoder=teacher)
        teacher.save()
        figures = summary(classifier, taxonomy, time.perf_counter() - started)
        # The bundle carries the encoder itself, not the cache: the nightly's benchmarks take it.
        save_bundle(replace(classifier, encoder=teacher.model), teacher_bundle)
        figures["postings_per_s_torch"] = round(body_speed(replace(classifier, encoder=teacher.model), taxonomy), 1)
        done(f"teacher-heads-{args.teacher_steps}", figures)
    if not wanted("student"):
        return 0

    student_dir = work / f"student-mpnet-{args.teacher_steps}"
    if not (student_dir / "modules.json").is_file():
        started = time.perf_counter()
        corpus = training_corpus(config, taxonomy)
        texts = distillation_texts(proxy_training_rows(config, corpus)["text"].tolist(), benchmark_title_keys(taxonomy))
        log.info("distillation: %d texts; the teacher encodes those it has not cached", len(texts))
        teacher_vectors = teacher.encode(texts, batch_size=128)
        teacher.save()
        teacher_s = time.perf_counter() - started
        student = load_encoder(base_encoder_dir(MINILM))
        targets, _ = reduce_to(teacher_vectors, student.get_embedding_dimension())
        rows = np.arange(0, len(texts), max(1, len(texts) // 10_000))
        targets = align_to(targets, encode(student, [texts[i] for i in rows]), rows)
        settings = DistillSettings(epochs=args.student_epochs, learning_rate=args.student_lr)
        metrics = fit_distillation(student, texts, targets, settings)
        student.save(str(student_dir))
        done(f"student-{args.teacher_steps}", {
            "texts": len(texts), "teacher_encode_s": round(teacher_s, 1), **metrics,
            "distil_s": round(time.perf_counter() - started - teacher_s, 1),
        })
    if not wanted("student-heads"):
        return 0

    if f"student-heads-{args.teacher_steps}" not in results:
        started = time.perf_counter()
        student_config = replace(TrainConfig(), name=f"distilled-mpnet-{args.teacher_steps}", show_progress=False)
        heads(f"student-heads-{args.teacher_steps}", student_config, f"bundle-student-{args.teacher_steps}", started, encoder_path=student_dir)
    if not wanted("student-finetuned"):
        return 0
    if args.student_finetune and f"student-finetuned-{args.teacher_steps}" not in results:
        started = time.perf_counter()
        tuned_config = replace(
            TrainConfig(), name=f"distilled-tuned-mpnet-{args.teacher_steps}", show_progress=False,
            checkpoint_dir=str(work / f"student-ft-{args.teacher_steps}.ckpt"),
        )
        tuned_dir, _ = finetune_to_dir(
            tuned_config, work / f"student-ft-mpnet-{args.teacher_steps}", taxonomy, start=load_encoder(student_dir)
        )
        heads(f"student-finetuned-{args.teacher_steps}", tuned_config, f"bundle-student-ft-{args.teacher_steps}", started, encoder_path=tuned_dir)
    if not wanted("minilm"):
        return 0
    if args.minilm_steps and f"minilm-{args.minilm_steps}" not in results:
        minilm = replace(
            TrainConfig(), max_steps=args.minilm_steps, name=f"minilm-{args.minilm_steps}", show_progress=False,
            checkpoint_dir=str(work / f"minilm-{args.minilm_steps}.ckpt"),
        )
        started = time.perf_counter()
        heads(f"minilm-{args.minilm_steps}", minilm, f"bundle-minilm-{args.minilm_steps}", started)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
