"""Local ONNX reranking worker: TEI-compatible /rerank with dynamic batching."""

__version__ = "0.1.0"
