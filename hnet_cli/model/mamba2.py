"""The Mamba-2 mixer, parameter for parameter as mamba_ssm's `Mamba2` (ngroups 1).

    [z, xBC, dt] = in_proj(u)                     z: d_inner, xBC: d_inner + 2 d_state, dt: nheads
    xBC = silu(causal_conv1d(xBC))                depthwise, kernel d_conv
    [x, B, C] = xBC
    y = SSD(x, softplus(dt + dt_bias), A = -exp(A_log), B, C) + D x
    out = out_proj(RMSNorm(y * silu(z)))          gate applied before the norm
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hnet_cli import ops
from hnet_cli.model.cache_tree import blend
from hnet_cli.model.config import SSMConfig
from hnet_cli.model.precision import at_least_fp32
from hnet_cli.model.sequence import SeqInfo


@dataclass
class Mamba2Cache:
    conv_state: torch.Tensor  # (b, conv_dim, d_conv - 1): the last inputs of the conv
    ssm_state: torch.Tensor  # (b, nheads, headdim, d_state), fp32


class Mamba2(nn.Module):
    def __init__(self, d_model: int, cfg: SSMConfig, device=None, dtype=None):
        super().__init__()
        self.d_model = d_model
        self.d_state = cfg.d_state
        self.d_conv = cfg.d_conv
        self.headdim = cfg.headdim
        self.chunk_size = cfg.chunk_size
        self.d_inner = cfg.expand * d_model
        self.nheads = self.d_inner // self.headdim
        self.ngroups = 1
        self.conv_dim = self.d_inner + 2 * self.ngroups * self.d_state
        factory = dict(device=device, dtype=dtype)
        # Direct parameters first: this is also the official state_dict order.
        self.dt_bias = nn.Parameter(torch.empty(self.nheads, **factory))
        self.A_log = nn.Parameter(torch.empty(self.nheads, **factory))
        self.D = nn.Parameter(torch.empty(self.nheads, **factory))
        d_in_proj = 2 * self.d_inner + 2 * self.ngroups * self.d_state + self.nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=False, **factory)
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, kernel_size=self.d_conv, groups=self.conv_dim,
            padding=self.d_conv - 1, bias=True, **factory,
        )
        self.norm = _GatedNormWeight(self.d_inner, **factory)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False, **factory)
        if device is None or torch.device(device).type != "meta":
            self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self, dt_min=0.001, dt_max=0.1, dt_floor=1e-4, a_range=(1.0, 16.0)):
        """Mamba-2's initialisation of dt_bias, A_log and D."""
        dt = torch.exp(torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log.copy_(torch.log(torch.empty(self.nheads).uniform_(*a_range)))
        self.D.fill_(1.0)

    # ------------------------------------------------------------------
    def _split(self, zxbcdt):
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _dt(self, dt_raw):
        return F.softplus(at_least_fp32(dt_raw) + at_least_fp32(self.dt_bias))

    def forward(self, u: torch.Tensor, info: SeqInfo, cache: Mamba2Cache | None = None) -> torch.Tensor:
        """u (b, l, d_model) -> (b, l, d_model). With `cache`, fill it for continuing each row."""
        b, l, _ = u.shape
        z, xBC_in, dt_raw = self._split(self.in_proj(u))
        conv_w = self.conv1d.weight[:, 0, :]  # (conv_dim, d_conv)
        xBC = ops.causal_conv1d(xBC_in, conv_w, self.conv1d.bias, seq_idx=info.seq_idx, activation="silu")
        x, B, C = torch.split(xBC, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = self._dt(dt_raw)  # (b, l, h)
        if info.known_all_valid is not True:
            # Padding must not move the state: dt = 0 means decay 1 and no input. When it is
            # not known that every position is real, multiply anyway (exact: x * 1.0 = x)
            # rather than ask the GPU (a host sync, and a graph break inside torch.compile).
            dt = dt * info.mask[..., None]
        A = -torch.exp(at_least_fp32(self.A_log))
        out = ops.ssd_scan(
            x.reshape(b, l, self.nheads, self.headdim), dt, A,
            B.reshape(b, l, 1, self.d_state), C.reshape(b, l, 1, self.d_state),
            D=self.D, seq_idx=info.seq_idx, chunk_size=self.chunk_size,
            return_final_state=cache is not None,
        )
        if cache is not None:
            y, final_state = out
            cache.ssm_state.copy_(final_state)
            cache.conv_state.copy_(_last_inputs(xBC_in, info.mask, self.d_conv - 1))
        else:
            y = out
        y = y.reshape(b, l, self.d_inner)
        y = ops.gated_rms_norm(y, z, self.norm.weight, eps=1e-5)
        return self.out_proj(y)

    def new_cache(self, batch: int, device=None, dtype=torch.float32) -> Mamba2Cache:
        return Mamba2Cache(
            conv_state=torch.zeros(batch, self.conv_dim, self.d_conv - 1, device=device, dtype=dtype),
            ssm_state=torch.zeros(batch, self.nheads, self.headdim, self.d_state, device=device, dtype=torch.promote_types(dtype, torch.float32)),
        )

    def step(self, u: torch.Tensor, cache: Mamba2Cache, active: torch.Tensor | None = None) -> torch.Tensor:
        """One new position per row: u (b, d_model); rows where `active` is False keep their states."""
        z, xBC, dt_raw = self._split(self.in_proj(u))
        # The conv and SSD steps update their states in place: on copies when some rows must not move.
        conv_state = cache.conv_state if active is None else cache.conv_state.clone()
        ssm_state = cache.ssm_state if active is None else cache.ssm_state.clone()
        conv_w = self.conv1d.weight[:, 0, :]
        xBC = ops.causal_conv1d_step(conv_state, xBC, conv_w, self.conv1d.bias, activation="silu")
        x, B, C = torch.split(xBC, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = self._dt(dt_raw)
        A = -torch.exp(at_least_fp32(self.A_log))
        n = u.shape[0]
        y = ops.ssd_step(
            ssm_state, x.reshape(n, self.nheads, self.headdim), dt, A,
            B.reshape(n, 1, self.d_state), C.reshape(n, 1, self.d_state), D=self.D,
        )
        if active is not None:
            cache.conv_state.copy_(blend(active, conv_state, cache.conv_state))
            cache.ssm_state.copy_(blend(active, ssm_state, cache.ssm_state))
        y = ops.gated_rms_norm(y.reshape(n, self.d_inner), z, self.norm.weight, eps=1e-5)
        return self.out_proj(y)


class _GatedNormWeight(nn.Module):
    """Holds the gated RMSNorm's weight under the official name `norm.weight`."""

    def __init__(self, d: int, device=None, dtype=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d, device=device, dtype=dtype))


def _last_inputs(x: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """The last k valid inputs of each row, oldest first, zeros before the row start: (b, c, k)."""
    b, l, c = x.shape
    lengths = mask.sum(1)  # (b,)
    offsets = torch.arange(-k, 0, device=x.device)  # positions n-k .. n-1
    idx = lengths[:, None] + offsets[None, :]  # (b, k)
    valid = idx >= 0
    gathered = torch.gather(x, 1, idx.clamp(min=0)[:, :, None].expand(b, k, c))
    gathered = gathered * valid[:, :, None].to(x.dtype)
    return gathered.transpose(1, 2)
