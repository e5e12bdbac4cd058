import json

import numpy as np
import onnx
import onnxruntime as ort

from rerank_onnx_worker.export import OPSET, convert_to_fp16


def test_numpy_reference_and_published_example(exported):
    rep = exported["report"]
    assert rep["bi"]["max_abs_diff_last_hidden_state"] <= 1e-4
    assert rep["bi"]["max_abs_diff_sentence_embedding"] <= 1e-4
    assert rep["cross"]["max_abs_diff_logits"] <= 1e-4
    # sentence-transformers model card: 0.6660 and 0.1046
    assert abs(rep["bi"]["cos_weather_sunny"] - 0.666) < 0.005
    assert abs(rep["bi"]["cos_weather_stadium"] - 0.105) < 0.005


def test_graph_shape(exported):
    for mode in ("bi", "cross"):
        m = onnx.load(str(exported[mode] / "model.onnx"), load_external_data=False)
        assert m.opset_import[0].version == OPSET
        ops = {n.op_type for n in m.graph.node}
        assert "Erf" in ops and "LayerNormalization" in ops
        names = [i.name for i in m.graph.input]
        outs = [o.name for o in m.graph.output]
        if mode == "bi":
            assert names == ["input_ids", "attention_mask"]
            assert outs == ["last_hidden_state", "sentence_embedding"]
            (rl2,) = [n for n in m.graph.node if n.op_type == "ReduceL2"]
            assert [a.name for a in rl2.attribute if a.name == "axes"] == ["axes"]
        else:
            assert names == ["input_ids", "attention_mask", "token_type_ids"]
            assert outs == ["logits"]
        cfg = json.loads((exported[mode] / "rerank_worker.json").read_text())
        assert cfg["mode"] == mode
        tok = json.loads((exported[mode] / "tokenizer.json").read_text())
        assert tok["padding"] is None and tok["truncation"]["max_length"] == cfg["max_length"]


def test_fp16_conversion_close(exported, bi_model):
    m16 = convert_to_fp16(onnx.load(str(exported["bi"] / "model.onnx")))
    onnx.checker.check_model(m16)
    s16 = ort.InferenceSession(m16.SerializeToString(), providers=["CPUExecutionProvider"])
    seqs = bi_model.tokenize("The weather is lovely today.", ["It's so sunny outside!", "He drove to the stadium."])
    ref = bi_model.run_batch(seqs)
    S = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), S), np.int64)
    mask = np.zeros_like(ids)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s.ids
        mask[r, : len(s)] = 1
    (e16,) = s16.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})
    assert e16.dtype == np.float16
    assert np.abs(e16.astype(np.float32) - ref).max() < 2e-3
