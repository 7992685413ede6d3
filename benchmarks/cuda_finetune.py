"""Does the retrain's fine-tune step run on CUDA with device=auto, and how fast?

    .venv/bin/python benchmarks/cuda_finetune.py [--steps 100] [--batch-size 64]

Runs the same code path as the weekly retrain's fine-tune task
(``jobclass.training.finetune.finetune_to_dir``) with ``device="auto"`` for a fixed number of steps and
prints the device it ran on and its seconds per step, next to the CPU figure measured on the
2-core machine (1.3 s/step at batch 64, benchmarks/RESULTS.md). Exits 1 if no GPU was used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

CPU_SECONDS_PER_STEP = 1.3  # 2 idle cores, batch 64, 24-token window (benchmarks/RESULTS.md)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import torch

    from jobclass.model.encoder import resolve_device
    from jobclass.training.config import TrainConfig
    from jobclass.training.finetune import finetune_to_dir

    device = resolve_device("auto")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, device=auto -> {device}")
    config = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, device="auto", show_progress=False)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        _, metrics = finetune_to_dir(config, out)
        seconds = time.perf_counter() - started
    steps = int(metrics.get("train_steps", args.steps))
    per_step = seconds / max(steps, 1)
    print(f"{steps} fine-tuning steps on {device} in {seconds:.1f}s: {per_step:.3f} s/step "
          f"(CPU, 2 cores: {CPU_SECONDS_PER_STEP} s/step; speed-up {CPU_SECONDS_PER_STEP / per_step:.0f}x)")
    print(f"a full epoch (733 steps) would take {733 * per_step / 60:.1f} min on this device")
    return 0 if device == "cuda" else 1


if __name__ == "__main__":
    sys.exit(main())
