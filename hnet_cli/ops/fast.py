"""Registers the GPU fast paths with the op registry (imported by `hnet_cli.ops`).

Each fast path applies only where it can run: a CUDA tensor of a supported
dtype, its library importable, shapes it handles. Everything else keeps the
reference. Priorities order the candidates for one op (reference = 0).

    op              implementation        library / condition
    ssd_scan        mamba_ssm             mamba_ssm Triton kernels
    ema_scan        mamba_ssm             the same kernel, one state per channel
    attention       flash_attn            flash_attn package
                    sdpa                  PyTorch SDPA; no window, one document per row
                    flex                  FlexAttention; windows and packed documents
    causal_conv1d   causal_conv1d         causal_conv1d package
                    compiled              torch.compile of the shifted-tap reference
    rms_norm        triton                mamba_ssm's Triton norm, eager mode only
    gated_rms_norm  triton                the same, gate before the norm
"""

from __future__ import annotations

from hnet_cli.ops import caches

caches.configure()  # before the kernels' modules define their autotuners

from hnet_cli.ops import fast_attention, fast_conv, fast_mamba, fast_norm  # noqa: E402
from hnet_cli.ops.registry import register  # noqa: E402


def register_fast_paths() -> None:
    register("ssd_scan", "mamba_ssm", fast_mamba.ssd_scan_mamba, fast_mamba.ssd_applies, priority=20)
    register("ema_scan", "mamba_ssm", fast_mamba.ema_scan_mamba, fast_mamba.ema_applies, priority=20)
    register("attention", "flash_attn", fast_attention.attention_flash_attn, fast_attention.flash_attn_applies, priority=30)
    register("attention", "sdpa", fast_attention.attention_sdpa, fast_attention.sdpa_applies, priority=20)
    register("attention", "flex", fast_attention.attention_flex, fast_attention.flex_applies, priority=10)
    register("causal_conv1d", "causal_conv1d", fast_conv.causal_conv1d_cuda, fast_conv.causal_conv1d_cuda_applies, priority=20)
    register("causal_conv1d", "compiled", fast_conv.causal_conv1d_compiled, fast_conv.causal_conv1d_compiled_applies, priority=10)
    register("rms_norm", "triton", fast_norm.rms_norm_triton, fast_norm.rms_norm_applies, priority=10)
    register("gated_rms_norm", "triton", fast_norm.gated_rms_norm_triton, fast_norm.gated_rms_norm_applies, priority=10)


def available() -> dict[str, bool]:
    """Which optional libraries imported (for `hnet info` and `hnet bench`)."""
    return {
        "mamba_ssm": fast_mamba.HAVE_MAMBA_SSD,
        "triton_norm": fast_norm.HAVE_TRITON_NORM,
        "flash_attn": fast_attention.HAVE_FLASH_ATTN,
        "flex_attention": fast_attention.HAVE_FLEX,
        "causal_conv1d": fast_conv.HAVE_CAUSAL_CONV1D,
    }


register_fast_paths()
