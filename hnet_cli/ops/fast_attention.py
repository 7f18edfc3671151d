"""Attention fast paths for GPUs: FlashAttention kernels through the best available door.

Same contract as `attention_ref`: q, k, v (b, l, h, d) -> (b, l, h, d); query i
sees key j when j <= i, i - j <= window (window >= 0) and both positions belong
to the same document (`seq_idx`).

Three implementations, tried in this order by the registry:
- `flash_attn`: `flash_attn_varlen_func` / `flash_attn_func` when the package
  imports (it has native sliding windows and variable-length batches).
- `sdpa`: PyTorch's `scaled_dot_product_attention(is_causal=True)` for the
  common case of no window (or one covering the whole row) and one document
  per row; on Hopper this runs the FlashAttention-2 kernel and traces cleanly
  inside `torch.compile`.
- `flex`: FlexAttention with a block mask built from the window and the
  document numbers, so packed documents and sliding windows skip the blocks
  they never read. Its block masks are cached per `seq_idx` tensor: the layers
  of one forward pass share one mask.
"""

from __future__ import annotations

import functools
import importlib.util
import weakref

import torch
import torch.nn.functional as F

from hnet_cli.ops.compile_boundary import not_traced, raise_compile_cache_limits

# FlexAttention arrived in torch 2.5. Importing it costs seconds (it pulls in the
# compiler stack), so it is only looked up here and imported on first use.
HAVE_FLEX = importlib.util.find_spec("torch.nn.attention.flex_attention") is not None

try:
    from flash_attn import flash_attn_func, flash_attn_varlen_func  # type: ignore

    HAVE_FLASH_ATTN = True
except Exception:  # not installed, or built for another torch/CUDA
    HAVE_FLASH_ATTN = False

# FlexAttention's GPU kernels tile the head dimension; below 16 they do not apply.
FLEX_MIN_HEAD_DIM = 16
FLEX_BLOCK = 128  # FlexAttention's default block size (queries and keys)
GPU_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _window_is_unbounded(window: int, length: int) -> bool:
    return window < 0 or window >= length - 1


# ---------------------------------------------------------------- SDPA (FlashAttention-2 in PyTorch)
def attention_sdpa(q, k, v, window: int = -1, seq_idx=None, scale=None):
    """Causal attention without window or documents: one fused kernel."""
    if seq_idx is not None or not _window_is_unbounded(window, q.shape[1]):
        raise ValueError("attention_sdpa handles neither windows nor packed documents; use attention_flex")
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, scale=scale
    )
    return out.transpose(1, 2)


def sdpa_applies(q, k, v, window=-1, seq_idx=None, scale=None) -> bool:
    return q.is_cuda and q.dtype in GPU_DTYPES and seq_idx is None and _window_is_unbounded(window, q.shape[1])


# ---------------------------------------------------------------- FlexAttention
def mask_mod_for(window: int, seq_idx: torch.Tensor | None):
    """The (b, h, q_idx, kv_idx) -> allowed predicate FlexAttention evaluates per block."""

    def causal(b, h, q_idx, kv_idx):
        return kv_idx <= q_idx

    def causal_window(b, h, q_idx, kv_idx):
        return (kv_idx <= q_idx) & (q_idx - kv_idx <= window)

    base = causal if window < 0 else causal_window
    if seq_idx is None:
        return base

    def documents(b, h, q_idx, kv_idx):
        return base(b, h, q_idx, kv_idx) & (seq_idx[b, q_idx] == seq_idx[b, kv_idx])

    return documents


class _BlockMaskCache:
    """Block masks for the latest few (seq_idx tensor, window, shape) combinations.

    A forward pass calls attention once per layer with the same `seq_idx`
    object; building the mask once saves (layers - 1) builds. Entries hold the
    tensor weakly and match by identity, so a new batch never reuses an old
    batch's mask even when its tensor lands at the same address.
    """

    def __init__(self, size: int = 8):
        self.size = size
        self.entries: list[tuple] = []  # (ref or None, key, block_mask)

    def get(self, seq_idx, window, b, l, device):
        # _version changes when the tensor is modified in place
        key = (window, b, l, str(device), None if seq_idx is None else seq_idx._version)
        for ref, k, mask in self.entries:
            if k == key and ((ref is None and seq_idx is None) or (ref is not None and ref() is seq_idx)):
                return mask
        mask = _build_block_mask(seq_idx, window, b, l, device)
        ref = None if seq_idx is None else weakref.ref(seq_idx)
        self.entries = [e for e in self.entries if e[0] is None or e[0]() is not None][-(self.size - 1):]
        self.entries.append((ref, key, mask))
        return mask


def _build_block_mask(seq_idx, window, b, l, device):
    from torch.nn.attention.flex_attention import create_block_mask

    if seq_idx is not None:
        seq_idx = seq_idx.to(torch.int32)  # a copy the mask keeps alive, so later edits cannot reach it
    mask_mod = mask_mod_for(window, seq_idx)
    batch = None if seq_idx is None else b
    # On GPUs the mask is built by a compiled kernel (no dense l x l tensor).
    return create_block_mask(mask_mod, batch, None, l, l, device=device, _compile=torch.device(device).type == "cuda")


_MASKS = _BlockMaskCache()


@functools.lru_cache(maxsize=None)
def _flex_for(device_type: str):
    from torch.nn.attention.flex_attention import flex_attention

    # On GPUs flex_attention runs fused only when compiled. Elsewhere (CPU
    # tests of the masks) its eager form computes the same function. Each shape
    # and grad mode is one compiled entry; past the limit Dynamo would run the
    # unfused form, whose (l x l) scores run out of memory at training lengths.
    if device_type == "cuda":
        raise_compile_cache_limits()
        return torch.compile(flex_attention, dynamic=False)
    return flex_attention


@not_traced
def attention_flex(q, k, v, window: int = -1, seq_idx=None, scale=None):
    """Causal attention with an optional sliding window and packed documents."""
    b, l, h, d = q.shape
    flex = _flex_for(q.device.type)  # first: it raises the compile-entry limit the mask builder shares
    block_mask = _MASKS.get(seq_idx, window, b, l, q.device)
    out = flex(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), block_mask=block_mask, scale=scale)
    return out.transpose(1, 2)


def flex_applies(q, k, v, window=-1, seq_idx=None, scale=None) -> bool:
    return HAVE_FLEX and q.is_cuda and q.dtype in GPU_DTYPES and q.shape[-1] >= FLEX_MIN_HEAD_DIM


# ---------------------------------------------------------------- flash_attn (when installed)
def attention_flash_attn(q, k, v, window: int = -1, seq_idx=None, scale=None):
    """flash_attn's own kernels; packed documents go through the varlen entry point."""
    b, l, h, d = q.shape
    win = (-1, -1) if window < 0 else (window, 0)
    if seq_idx is None:
        return flash_attn_func(q, k, v, softmax_scale=scale, causal=True, window_size=win)
    # Each (row, document) becomes one variable-length sequence.
    starts = torch.ones(b, l, dtype=torch.bool, device=q.device)
    starts[:, 1:] = seq_idx[:, 1:] != seq_idx[:, :-1]
    lengths = torch.diff(
        torch.cat([starts.flatten().nonzero(as_tuple=True)[0], torch.tensor([b * l], device=q.device)])
    )
    cu = F.pad(torch.cumsum(lengths, 0), (1, 0)).to(torch.int32)
    max_len = int(lengths.max())
    out = flash_attn_varlen_func(
        q.reshape(b * l, h, d), k.reshape(b * l, h, d), v.reshape(b * l, h, d), cu, cu, max_len, max_len,
        softmax_scale=scale, causal=True, window_size=win,
    )
    return out.reshape(b, l, h, d)


def flash_attn_applies(q, k, v, window=-1, seq_idx=None, scale=None) -> bool:
    return HAVE_FLASH_ATTN and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16)
