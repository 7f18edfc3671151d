"""The hot operations of an H-Net behind one narrow interface each.

    ssd_scan        Mamba-2 selective state-space scan (chunked SSD form)
    causal_conv1d   depthwise causal convolution (Mamba-2's short conv)
    attention       causal attention with sliding window and packed documents
    ema_scan        dechunk smoothing zbar_j = P_j zhat_j + (1 - P_j) zbar_{j-1}
    rms_norm, gated_rms_norm

All take packed documents as `seq_idx` (b, l): non-decreasing document numbers
per row; nothing crosses from one document to the next. Each op has a pure
PyTorch reference (`*_ref`) that runs on any device; fast paths register in
`hnet_cli.ops.registry` and are chosen at run time (see `registry.backend` to
force one). The model code only ever calls the functions below.
"""

from __future__ import annotations

from hnet_cli.ops import registry
from hnet_cli.ops.attention_ref import attention_ref
from hnet_cli.ops.conv_ref import causal_conv1d_ref, causal_conv1d_step_ref
from hnet_cli.ops.ema_ref import ema_scan_ref
from hnet_cli.ops.norm_ref import gated_rms_norm_ref, rms_norm_ref
from hnet_cli.ops.ssd_ref import ssd_scan_ref, ssd_step_ref
from hnet_cli.ops.registry import (  # noqa: F401  (re-exported)
    backend,
    compilation,
    compilation_allowed,
    implementations,
    without_compilation,
)

for _op, _fn in [
    ("ssd_scan", ssd_scan_ref),
    ("causal_conv1d", causal_conv1d_ref),
    ("attention", attention_ref),
    ("ema_scan", ema_scan_ref),
    ("rms_norm", rms_norm_ref),
    ("gated_rms_norm", gated_rms_norm_ref),
]:
    registry.register(_op, "reference", _fn, priority=0)


def ssd_scan(x, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False, seq_idx=None,
             initial_state=None, return_final_state=False, chunk_size=64):
    """See `ssd_scan_ref` for shapes and meaning."""
    return registry.dispatch(
        "ssd_scan", x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=dt_softplus, seq_idx=seq_idx,
        initial_state=initial_state, return_final_state=return_final_state, chunk_size=chunk_size,
    )


def causal_conv1d(x, weight, bias=None, seq_idx=None, initial_state=None, activation=None):
    """See `causal_conv1d_ref`."""
    return registry.dispatch(
        "causal_conv1d", x, weight, bias=bias, seq_idx=seq_idx, initial_state=initial_state, activation=activation
    )


def attention(q, k, v, window=-1, seq_idx=None, scale=None):
    """See `attention_ref`."""
    return registry.dispatch("attention", q, k, v, window=window, seq_idx=seq_idx, scale=scale)


def ema_scan(x, p, seq_idx=None, initial_state=None, return_final_state=False):
    """See `ema_scan_ref`."""
    return registry.dispatch(
        "ema_scan", x, p, seq_idx=seq_idx, initial_state=initial_state, return_final_state=return_final_state
    )


def rms_norm(x, weight, eps=1e-5):
    return registry.dispatch("rms_norm", x, weight, eps=eps)


def gated_rms_norm(x, z, weight, eps=1e-5):
    return registry.dispatch("gated_rms_norm", x, z, weight, eps=eps)


# Step functions (generation) are cheap elementwise updates; one implementation serves all devices.
ssd_step = ssd_step_ref
causal_conv1d_step = causal_conv1d_step_ref

__all__ = [
    "ssd_scan", "causal_conv1d", "attention", "ema_scan", "rms_norm", "gated_rms_norm",
    "ssd_step", "causal_conv1d_step", "backend", "implementations",
    "ssd_scan_ref", "causal_conv1d_ref", "attention_ref", "ema_scan_ref", "rms_norm_ref", "gated_rms_norm_ref",
]


# GPU fast paths register themselves (each applies only where its library and
# device are present). Their optional libraries are imported under guards; this
# guard is the last line of defence so that a broken optional install can never
# stop the references, and so the CPU-only toolkit, from importing.
FAST_PATHS_ERROR: str | None = None
try:
    from hnet_cli.ops import fast as _fast  # noqa: F401
except Exception as _exc:  # pragma: no cover - only with a broken optional install
    FAST_PATHS_ERROR = f"{type(_exc).__name__}: {_exc}"
