"""Embeddings: hidden states of any stage per byte, per chunk or pooled per document."""

from hnet_cli.embed.api import EmbedRequest, EmbedResult, run_embed
from hnet_cli.embed.stream import EmbeddingRows, embed_documents

__all__ = ["EmbedRequest", "EmbedResult", "EmbeddingRows", "embed_documents", "run_embed"]
