"""An ONNX Runtime backend for the encoder: the sentence-transformers embeddings, cheaper on CPU.

- :func:`export_onnx` turns a saved sentence-transformers model (transformer + mean pooling +
  normalise) into ``model.onnx`` and, with dynamic int8 quantisation, ``model_qint8.onnx``.
- :class:`OnnxEncoder` runs that file with the model's own tokenizer and mean pooling. It offers
  the part of the ``SentenceTransformer`` interface that :func:`jobclass.model.encoder.encode` uses.

Exports are cached under ``<cache dir>/onnx/<weights sha256>`` (``JOBCLASS_CACHE_DIR``, else
``<data home>/cache``), so a model is exported once per version, and the bundle directory (whose
files are hash-verified) is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Literal

import numpy as np

from jobclass.hashing import file_sha256
from jobclass.model.encoder import load_encoder
from jobclass.paths import cache_dir

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model_qint8.onnx"}
OPSET = 17


def _weights_digest(encoder_dir: Path) -> str:
    weights = encoder_dir / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{encoder_dir} has no model.safetensors to export.")
    return file_sha256(weights)[:16]


def _check_mean_pooling(encoder_dir: Path) -> None:
    modules = json.loads((encoder_dir / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = encoder_dir / next((m["path"] for m in modules if m["type"].endswith("Pooling")), "1_Pooling")
    config = json.loads((pooling / "config.json").read_text()) if (pooling / "config.json").is_file() else {}
    mean = config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens")  # ST 6 or older
    if kinds[:2] != ["Transformer", "Pooling"] or not mean:
        raise ValueError(f"{encoder_dir}: only transformer + mean pooling models can run on ONNX, not {kinds} {config}.")


def cache_dir_for(encoder_dir: str | Path, weights_sha256: str | None = None) -> Path:
    """Where the export of ``encoder_dir`` lives; ``weights_sha256`` spares re-hashing known weights."""
    digest = weights_sha256[:16] if weights_sha256 else _weights_digest(Path(encoder_dir))
    return cache_dir() / "onnx" / digest


def _hidden_states_module():
    import torch

    class HiddenStates(torch.nn.Module):
        """The transformer with positional inputs and one output, as the ONNX graph takes them."""

        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001 - traced tensors
            # MPNet and RoBERTa-style tokenizers give no token_type_ids: the graph then takes two inputs.
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, **extra)
            return out.last_hidden_state

    return HiddenStates


def export_onnx(encoder_dir: str | Path, out_dir: str | Path, quantize: bool = True) -> dict[str, Path]:
    """Export the transformer of ``encoder_dir`` to ``out_dir``; returns the files.

    The export is written beside ``out_dir`` and renamed into place, so readers never see half a
    file; an export already at ``out_dir`` (another worker's) is kept.
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    encoder_dir, out_dir = Path(encoder_dir), Path(out_dir)
    _check_mean_pooling(encoder_dir)
    t0 = time.perf_counter()
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = _hidden_states_module()(AutoModel.from_pretrained(str(encoder_dir), local_files_only=True)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True)
    sample = tokenizer(["an example job title", "a longer example of a posting body"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    dynamic["last_hidden_state"] = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            tuple(sample[n] for n in names),
            str(tmp / ONNX_FILES["onnx"]),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    if quantize:
        logging.disable(logging.INFO)  # the quantiser logs one line per tensor on the root logger
        try:
            quantize_dynamic(
                str(tmp / ONNX_FILES["onnx"]), str(tmp / ONNX_FILES["onnx-int8"]), weight_type=QuantType.QInt8,
                per_channel=True,
            )
        finally:
            logging.disable(logging.NOTSET)
    tokenizer.save_pretrained(str(tmp / "tokenizer"))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, out_dir)  # atomic; fails when another process published its export first
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("%s was exported meanwhile by another process: using that export", out_dir)
    log.info("Exported %s to ONNX in %s (%.1fs)", encoder_dir, out_dir, time.perf_counter() - t0)
    return {k: out_dir / f for k, f in ONNX_FILES.items() if (out_dir / f).is_file()}


def ensure_onnx(encoder_dir: str | Path, backend: str, weights_sha256: str | None = None) -> Path:
    """The cached ONNX file of ``encoder_dir`` for ``backend``, exported on first use."""
    if backend not in ONNX_FILES:
        raise ValueError(f"backend must be one of {sorted(ONNX_FILES)}, not {backend!r}")
    out_dir = cache_dir_for(encoder_dir, weights_sha256)
    path = out_dir / ONNX_FILES[backend]
    if not path.is_file():
        log.info("No ONNX export of %s yet: exporting it (once per model version)", encoder_dir)
        export_onnx(encoder_dir, out_dir, quantize=True)
    return path


class OnnxEncoder:
    """Mean-pooled, optionally normalised sentence embeddings from an ONNX transformer."""

    device = "cpu"

    def __init__(
        self,
        onnx_path: str | Path,
        max_seq_length: int = 128,
        threads: int | None = None,
        source_dir: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        onnx_path = Path(onnx_path)
        self.path = onnx_path
        self.source_dir = Path(source_dir) if source_dir is not None else None  # the exported torch model
        self.tokenizer = AutoTokenizer.from_pretrained(str(onnx_path.parent / "tokenizer"), local_files_only=True)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.max_seq_length = max_seq_length

    def get_embedding_dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def _forward(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np"
        )
        feed = {k: v.astype(np.int64) for k, v in batch.items() if k in self._inputs}
        (hidden,) = self.session.run(["last_hidden_state"], feed)
        mask = batch["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)

    def encode(
        self,
        sentences: list[str],
        batch_size: int = 64,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Like ``SentenceTransformer.encode``: batches of similar length, results in input order."""
        texts = list(sentences)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="Batches (onnx)")
        for lo in starts:
            rows = order[lo : lo + batch_size]
            out[rows] = self._forward([texts[i] for i in rows])
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def load_encoder_backend(
    encoder_dir: str | Path,
    backend: str,
    device: str = "auto",
    max_seq_length: int = 128,
    threads: int | None = None,
    weights_sha256: str | None = None,
):
    """The encoder of a saved model on ``backend``: sentence-transformers (torch) or ONNX Runtime.

    The ONNX backends run on the CPU; ``device="cuda"`` always takes the torch model. ``threads``
    caps the encoder's CPU threads (torch's intra-op pool is per process). ``weights_sha256`` (a
    bundle's recorded hash of ``model.safetensors``) names the export without reading the weights.
    """
    if backend not in BACKENDS:
        raise ValueError(f"encoder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend != "torch" and device != "cuda":
        try:
            path = ensure_onnx(encoder_dir, backend, weights_sha256)
            return OnnxEncoder(path, max_seq_length=max_seq_length, threads=threads, source_dir=encoder_dir)
        except ImportError as exc:
            log.warning(
                "The %s encoder backend needs onnxruntime and onnx (%s): running the torch encoder instead. "
                "Run `pip install -r requirements.txt`, or set JOBCLASS_ENCODER_BACKEND=torch to silence this.",
                backend, exc,
            )
    if threads:
        import torch

        torch.set_num_threads(threads)
    return load_encoder(encoder_dir, device=device, max_seq_length=max_seq_length)
