"""ONNX Runtime session + tokenizer for one model directory.

A model directory holds ``model.onnx`` + ``tokenizer.json`` and, optionally,
``rerank_worker.json``: ``{"mode": "cross"|"bi", "max_length": N,
"model_id": "...", "output": "<output name>"}``.  Without it the mode is
inferred from the graph: a 2-D output of width 1 means a cross-encoder, a 3-D
output (token states) or a 2-D output named ``*embedding*`` means a bi-encoder.

The unit of work is one *sequence*: a (query, document) pair in cross mode, a
single text (the query or one document) in bi mode.  ``run_batch`` pads a list
of sequences on the right to the longest one and makes exactly one
``session.run`` call.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from tokenizers import Tokenizer

from .export import WORKER_CONFIG, convert_to_fp16

log = logging.getLogger("rerank_onnx_worker.model")


class InputTooLong(ValueError):
    """truncate=false and an input exceeds max_length (TEI: 422 Validation)."""


@dataclass(slots=True)
class Seq:
    ids: np.ndarray  # int64 [n]
    type_ids: np.ndarray | None  # int64 [n] (cross only)

    def __len__(self) -> int:
        return len(self.ids)


def _resolve_providers(provider: str) -> list[str]:
    avail = ort.get_available_providers()
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        if "CUDAExecutionProvider" not in avail:
            raise RuntimeError(f"--provider cuda, but onnxruntime offers only {avail} (install onnxruntime-gpu)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if provider == "auto":
        return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in avail else []) + ["CPUExecutionProvider"]
    raise ValueError(f"unknown provider {provider!r}")


class RerankModel:
    def __init__(
        self,
        model_dir: str | Path,
        provider: str = "auto",
        fp16: bool = False,
        mode: str | None = None,
        max_length: int | None = None,
        intra_op_threads: int = 0,
        model_id: str | None = None,
        spin: bool = False,
    ) -> None:
        self.dir = Path(model_dir)
        onnx_path = self.dir / "model.onnx"
        if not onnx_path.exists():
            raise FileNotFoundError(f"{onnx_path} not found")
        cfg: dict = {}
        if (self.dir / WORKER_CONFIG).exists():
            cfg = json.loads((self.dir / WORKER_CONFIG).read_text())

        providers = _resolve_providers(provider)
        self.device = "cuda" if providers[0] == "CUDAExecutionProvider" else "cpu"
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            so.intra_op_num_threads = intra_op_threads
        if not spin:
            # spinning intra-op threads steal the cores the event loop and the
            # tokenizer need when the box is small
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.fp16 = False
        if fp16 and self.device != "cuda":
            log.warning("--fp16 ignored: it needs the CUDA provider (CPU float16 kernels are slow or missing)")
        if fp16 and self.device == "cuda":
            proto = onnx.load(str(onnx_path))
            self.session = ort.InferenceSession(convert_to_fp16(proto).SerializeToString(), so, providers=providers)
            self.fp16 = True
        else:
            self.session = ort.InferenceSession(str(onnx_path), so, providers=providers)
        self.providers = self.session.get_providers()

        self.input_names = [i.name for i in self.session.get_inputs()]
        for req in ("input_ids", "attention_mask"):
            if req not in self.input_names:
                raise ValueError(f"graph has no {req!r} input (inputs: {self.input_names})")
        self.has_token_types = "token_type_ids" in self.input_names
        self.has_position_ids = "position_ids" in self.input_names

        outs = {o.name: o for o in self.session.get_outputs()}
        self.mode = mode or cfg.get("mode") or self._infer_mode(outs)
        if self.mode not in ("cross", "bi"):
            raise ValueError(f"mode must be cross or bi, got {self.mode!r}")
        self.output_name = cfg.get("output") if cfg.get("output") in outs else None
        if self.output_name is None:
            if self.mode == "bi":
                self.output_name = "sentence_embedding" if "sentence_embedding" in outs else next(iter(outs))
            else:
                self.output_name = "logits" if "logits" in outs else next(iter(outs))
        self._pool = self.mode == "bi" and len(outs[self.output_name].shape) == 3

        self.tok_path = self.dir / "tokenizer.json"
        base = Tokenizer.from_file(str(self.tok_path))
        tok_trunc = base.truncation
        self.max_length = int(max_length or cfg.get("max_length") or (tok_trunc or {}).get("max_length") or 512)
        self._tok = {}
        for direction in ("right", "left", None):
            t = Tokenizer.from_file(str(self.tok_path))
            t.no_padding()
            if direction is None:
                t.no_truncation()
            else:
                t.enable_truncation(self.max_length, strategy="longest_first", direction=direction)
            self._tok[direction] = t
        self.pad_id = 0
        pad = base.padding
        if pad and pad.get("pad_id") is not None:
            self.pad_id = int(pad["pad_id"])
        self.model_id = model_id or cfg.get("model_id") or self.dir.name
        self.dtype = "float16" if self.fp16 else "float32"
        log.info(
            "loaded %s: mode=%s providers=%s dtype=%s max_length=%d output=%s",
            self.dir, self.mode, self.providers, self.dtype, self.max_length, self.output_name,
        )

    @staticmethod
    def _infer_mode(outs) -> str:
        first = next(iter(outs.values()))
        if len(first.shape) == 3 or any("embedding" in n for n in outs):
            return "bi"
        return "cross"

    # ------------------------------------------------------------------ #
    # tokenization
    # ------------------------------------------------------------------ #
    def tokenize(self, query: str, texts: list[str], truncate: bool = True, direction: str = "right") -> list[Seq]:
        """Cross: one Seq per (query, text) pair.  Bi: [query] + texts."""
        tok = self._tok[direction if truncate else None]
        if self.mode == "cross":
            encs = tok.encode_batch([(query, t) for t in texts])
        else:
            encs = tok.encode_batch([query, *texts])
        if not truncate:
            for e in encs:
                if len(e.ids) > self.max_length:
                    raise InputTooLong(f"`inputs` must have less than {self.max_length} tokens. Given: {len(e.ids)}")
        tt = self.has_token_types
        return [
            Seq(np.asarray(e.ids, dtype=np.int64), np.asarray(e.type_ids, dtype=np.int64) if tt else None)
            for e in encs
        ]

    # ------------------------------------------------------------------ #
    # inference
    # ------------------------------------------------------------------ #
    def run_batch(self, seqs: list[Seq]) -> np.ndarray:
        """One session.run over right-padded sequences.
        Returns float32 [n] logits (cross) or [n, d] L2-normalised embeddings (bi)."""
        n = len(seqs)
        S = max(len(s) for s in seqs)
        ids = np.full((n, S), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, S), dtype=np.int64)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = s.ids
            mask[r, : len(s)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self.has_token_types:
            tt = np.zeros((n, S), dtype=np.int64)
            for r, s in enumerate(seqs):
                if s.type_ids is not None:
                    tt[r, : len(s)] = s.type_ids
            feeds["token_type_ids"] = tt
        if self.has_position_ids:
            feeds["position_ids"] = np.broadcast_to(np.arange(S, dtype=np.int64), (n, S)).copy()
        (out,) = self.session.run([self.output_name], feeds)
        out = np.asarray(out, dtype=np.float32)
        if self.mode == "cross":
            return out.reshape(n, -1)[:, 0]  # first logit, as TEI's single-label reranker
        if self._pool:
            m = mask[:, :, None].astype(np.float32)
            out = (out * m).sum(1) / np.maximum(m.sum(1), 1.0)
        norm = np.linalg.norm(out.astype(np.float64), axis=1, keepdims=True)
        return (out / np.maximum(norm, 1e-12)).astype(np.float32)

    def scores(self, outputs: list[np.ndarray], raw_scores: bool) -> list[float]:
        """Per-request post-processing, in float64.
        cross: sigmoid(logit) (raw logit with raw_scores), as TEI.
        bi: cosine(query, doc); raw_scores does not apply."""
        if self.mode == "cross":
            out = []
            for x in outputs:
                v = float(x)
                out.append(v if raw_scores else _sigmoid(v))
            return out
        q = np.asarray(outputs[0], dtype=np.float64)
        return [float(np.dot(q, np.asarray(d, dtype=np.float64))) for d in outputs[1:]]

    def score_unbatched(self, query: str, texts: list[str], raw_scores: bool = False, truncate: bool = True, direction: str = "right") -> list[float]:
        """Naive reference path: one session.run per sequence (no padding)."""
        seqs = self.tokenize(query, texts, truncate, direction)
        return self.scores([self.run_batch([s])[0] for s in seqs], raw_scores)

    def count_tokens(self, seqs: list[Seq]) -> int:
        return int(sum(len(s) for s in seqs))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)

