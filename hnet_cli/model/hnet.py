"""The recursive H-Net and the byte-level language model around it.

Stage s holds  encoder -> chunk -> main -> dechunk -> decoder,  where `main` is
the stage s+1 H-Net or, innermost, an isotropic stack. Module and parameter
names follow the released model so its state dicts load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hnet_cli.model.attention import reserve_positions
from hnet_cli.model.block import Isotropic
from hnet_cli.model.cache_tree import gather_rows, scatter_rows
from hnet_cli.model.config import HNetConfig
from hnet_cli.model.dynamic_chunking import (
    ChunkBudget,
    DechunkCache,
    RoutingModule,
    RoutingOutput,
    chunk,
    dechunk,
    dechunk_step,
    ste,
)
from hnet_cli.model.precision import full_precision
from hnet_cli.model.sequence import SeqInfo

BOS = 254  # the released byte tokenizer's begin-of-sequence byte
EOS = 255


@dataclass
class StageOutput:
    """What one chunking stage decided, on that stage's input sequence (length L_s)."""

    boundary_prob: torch.Tensor  # (b, L_s) p_t
    boundary_mask: torch.Tensor  # (b, L_s) b_t
    selected_prob: torch.Tensor  # (b, L_s) c_t
    valid: torch.Tensor  # (b, L_s) real positions of the stage's input


@dataclass
class HNetOutput:
    logits: torch.Tensor  # (b, L, vocab) or (T, vocab) for packed input
    stages: list[StageOutput] = field(default_factory=list)  # outermost first
    hidden: torch.Tensor | None = None


@dataclass
class HNetCache:
    """Generation state of one stage (mirrors the module tree)."""

    encoder: list | None = None
    routing: object = None
    main: object = None
    dechunk: DechunkCache | None = None
    decoder: list | None = None


class HNet(nn.Module):
    def __init__(self, config: HNetConfig, stage: int = 0, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.stage = stage
        self.d_model = config.d_model[stage]
        layout = config.stages[stage]
        self.is_innermost = stage == config.num_stages
        # Fixed chunk-sequence length for this stage's inner network (None: the fullest row's count).
        self.chunk_budget: ChunkBudget | None = None
        # widen: an inner stage wider than the outer one appends a learned vector
        d_outer = config.d_model[stage - 1] if stage > 0 else self.d_model
        if self.d_model > d_outer:
            self.pad_dimension = nn.Parameter(torch.zeros(self.d_model - d_outer, **factory))
        else:
            self.pad_dimension = None
        if self.is_innermost:
            self.main_network = Isotropic(layout.main, config, stage, **factory)
            return
        self.encoder = Isotropic(layout.encoder, config, stage, **factory)
        self.main_network = HNet(config, stage + 1, **factory)
        self.decoder = Isotropic(layout.decoder, config, stage, **factory)
        self.routing_module = RoutingModule(self.d_model, **factory)
        # residual_proj is kept in fp32 whatever the model dtype; weight starts at zero.
        self.residual_proj = nn.Linear(self.d_model, self.d_model, bias=True, device=device, dtype=torch.float32)
        self.residual_proj.weight._no_reinit = True
        if device is None or torch.device(device).type != "meta":
            nn.init.zeros_(self.residual_proj.weight)

    def _residual(self, h: torch.Tensor) -> torch.Tensor:
        """residual_proj(h_t) in fp32, also under bf16 autocast (the released model keeps it fp32)."""
        with full_precision(h.device.type):
            return self.residual_proj(h.to(self.residual_proj.weight.dtype))

    def _widen(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_dimension is None:
            return x
        pad = self.pad_dimension.to(x.dtype).expand(*x.shape[:-1], -1)
        return torch.cat([x, pad], dim=-1)

    def forward(self, x: torch.Tensor, info: SeqInfo, cache: HNetCache | None = None):
        """x (b, L, d_outer) -> (b, L, d_outer), and the StageOutputs of this and inner stages."""
        d_outer = x.shape[-1]
        x = self._widen(x)
        if self.is_innermost:
            x = self.main_network(x, info, None if cache is None else cache.main)
            return x[..., :d_outer], []
        h = self.encoder(x, info, None if cache is None else cache.encoder)
        residual = self._residual(h)
        route: RoutingOutput = self.routing_module(h, info, None if cache is None else cache.routing)
        h_chunks, info_next, order = chunk(h, route.boundary_mask, info, self.chunk_budget)
        z_hat, inner = self.main_network(h_chunks, info_next, None if cache is None else cache.main)
        z = dechunk(z_hat, route.boundary_mask, route.boundary_prob, order, info_next,
                    None if cache is None else cache.dechunk)
        x = self.combine(z, route.selected_prob, residual)
        x = self.decoder(x.to(h.dtype), info, None if cache is None else cache.decoder)
        stage_out = StageOutput(route.boundary_prob, route.boundary_mask, route.selected_prob, info.mask)
        return x[..., :d_outer], [stage_out, *inner]

    def decide(self, x: torch.Tensor, info: SeqInfo) -> list[StageOutput]:
        """Only the chunking decisions of this and the inner stages, as `forward` makes them.

        Stage s's boundaries depend on its encoder and routing module alone, and stage s+1's
        on its encoder over stage s's chunks: the innermost network, the dechunking, the
        decoders and the language-model head are not run (most of the work and of the
        activations' memory in a small model).
        """
        if self.is_innermost:
            return []
        h = self.encoder(self._widen(x), info, None)
        route: RoutingOutput = self.routing_module(h, info, None)
        stage_out = StageOutput(route.boundary_prob, route.boundary_mask, route.selected_prob, info.mask)
        if self.main_network.is_innermost:
            return [stage_out]
        h_chunks, info_next, _ = chunk(h, route.boundary_mask, info, self.chunk_budget)
        del h
        return [stage_out, *self.main_network.decide(h_chunks, info_next)]

    # ---------------------------------------------------------------- generation
    def new_cache(self, batch: int, device=None, dtype=torch.float32) -> HNetCache:
        if self.is_innermost:
            return HNetCache(main=self.main_network.new_cache(batch, device, dtype))
        return HNetCache(
            encoder=self.encoder.new_cache(batch, device, dtype),
            routing=self.routing_module.new_cache(batch, device, dtype),
            main=self.main_network.new_cache(batch, device, dtype),
            dechunk=DechunkCache(torch.zeros(batch, self.d_model, device=device, dtype=torch.promote_types(dtype, torch.float32))),
            decoder=self.decoder.new_cache(batch, device, dtype),
        )

    def combine(self, z: torch.Tensor, selected_prob: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """out_t = upsampled_t * STE(c_t) + residual_proj(h_t), in the residual's precision."""
        return z.to(residual.dtype) * ste(selected_prob.to(residual.dtype))[..., None] + residual

    def step(self, x: torch.Tensor, cache: HNetCache, active: torch.Tensor | None = None, dense: bool = False,
             block_step=None):
        """One new position per row: x (b, d_outer) -> (b, d_outer), and this and inner stages' decisions.

        Rows where `active` (b,) is False leave every cache of this stage as it was.
        The encoder and decoder advance every active row; the inner network only the
        rows whose new position is a boundary. `dense=False` runs the inner network on
        those rows alone (gathered from the cache and written back: the least
        arithmetic); `dense=True` runs it on every row and keeps the others' caches
        with `active`, so shapes never change and nothing waits for the GPU (what a
        CUDA graph captures). Both give the same numbers for the rows that advance.
        """
        d_outer = x.shape[-1]
        x = self._widen(x)
        if self.is_innermost:
            return self.main_network.step(x, cache.main, active, block_step)[..., :d_outer], []
        h = self.encoder.step(x, cache.encoder, active, block_step)
        residual = self._residual(h)
        route = self.routing_module.step(h, cache.routing, active)
        boundary = route.boundary_mask if active is None else route.boundary_mask & active
        if dense:
            z_hat, inner = self.main_network.step(h, cache.main, boundary, True, block_step)
        else:
            z_hat, inner = self._inner_step_on_boundary_rows(h, cache.main, boundary, block_step)
        z = dechunk_step(z_hat, boundary, route.boundary_prob, cache.dechunk)
        x = self.combine(z, route.selected_prob, residual)
        x = self.decoder.step(x.to(h.dtype), cache.decoder, active, block_step)
        valid = torch.ones_like(boundary) if active is None else active
        here = StageOutput(_zero_where_not(route.boundary_prob, valid), boundary,
                           _zero_where_not(route.selected_prob, valid), valid)
        return x[..., :d_outer], [here, *inner]

    def _inner_step_on_boundary_rows(self, h, cache_main, boundary, block_step):
        """The inner network on the rows with a boundary only; zhat of the others is zero (unused)."""
        n = h.shape[0]
        rows = boundary.nonzero(as_tuple=True)[0]
        if len(rows) == n:
            return self.main_network.step(h, cache_main, None, False, block_step)
        if len(rows) == 0:
            return h.new_zeros(n, self.d_model), []
        part = gather_rows(cache_main, rows)
        z_rows, inner = self.main_network.step(h[rows], part, None, False, block_step)
        scatter_rows(cache_main, part, rows)
        z_hat = z_rows.new_zeros(n, z_rows.shape[-1])
        z_hat[rows] = z_rows
        return z_hat, _scatter_inner(inner, rows, n)


def _zero_where_not(t: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return torch.where(valid, t, torch.zeros_like(t))


def _scatter_inner(inner: list[StageOutput], rows: torch.Tensor, n: int) -> list[StageOutput]:
    """Inner-stage step outputs cover only `rows`; spread them over all n rows (valid=False elsewhere)."""
    out = []
    for s in inner:
        def spread(t, fill):
            full = torch.full((n,), fill, dtype=t.dtype, device=t.device)
            full[rows] = t
            return full

        out.append(StageOutput(spread(s.boundary_prob, 0.0), spread(s.boundary_mask, False),
                               spread(s.selected_prob, 0.0), spread(s.valid, False)))
    return out


class HNetLM(nn.Module):
    """Bytes in, next-byte logits out: embeddings -> H-Net backbone -> lm_head."""

    def __init__(self, config: HNetConfig, device=None, dtype=None):
        super().__init__()
        self.config = config
        d = config.d_model[0]
        self.embeddings = nn.Embedding(config.vocab_size, d, device=device, dtype=dtype)
        self.backbone = HNet(config, stage=0, device=device, dtype=dtype)
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False, device=device, dtype=dtype)
        self.tie_weights()
        # What a checkpoint says about this model (domain, reader options, recipe, ...):
        # filled by hnet_cli.model.checkpoint.load, written again by save_model.
        self.metadata: dict = {}

    def tie_weights(self) -> None:
        """Share lm_head and embedding weights when the config asks for it (again after `to_empty`)."""
        if self.config.tie_embeddings:
            self.lm_head.weight = self.embeddings.weight

    @property
    def num_stages(self) -> int:
        return self.config.num_stages

    def forward(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor | None = None,
        seq_idx: torch.Tensor | None = None,
        cu_seqlens: torch.Tensor | None = None,
        cache: HNetCache | None = None,
        return_hidden: bool = False,
    ) -> HNetOutput:
        """
        input_ids (b, L) with optional `mask` (b, L) (padding at the end of rows) and/or
        `seq_idx` (b, L) (several documents packed per row); or input_ids (T,) with
        `cu_seqlens` (n+1,) for n packed variable-length documents.
        With `cache` (from `new_cache`), fill it so `step` can continue each row
        (one document per row, mask mode).
        """
        packed = cu_seqlens is not None
        if packed:
            if input_ids.dim() != 1:
                raise ValueError("with cu_seqlens, input_ids must be 1-D (all documents packed)")
            info = SeqInfo.from_cu_seqlens(cu_seqlens.to(input_ids.device), input_ids.shape[0])
            input_ids = input_ids[None]
        elif seq_idx is not None:
            info = SeqInfo.from_seq_idx(seq_idx, mask)
        else:
            if mask is None:
                info = SeqInfo.from_mask(torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device), True)
            else:
                info = SeqInfo.from_mask(mask)
        x = self.embeddings(input_ids)
        x, stages = self.backbone(x, info, cache)
        logits = self.lm_head(x.to(self.lm_head.weight.dtype))
        if packed:
            logits = logits[0]
            stages = [_unbatch_packed(s) for s in stages]
            x = x[0]
        return HNetOutput(logits=logits, stages=stages, hidden=x if return_hidden else None)

    def decide(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> list[StageOutput]:
        """The per-stage chunking decisions `forward(input_ids, mask).stages` holds, without the rest
        of the model (see `HNet.decide`): what `hnet chunk` needs."""
        if mask is None:
            info = SeqInfo.from_mask(torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device), True)
        else:
            info = SeqInfo.from_mask(mask)
        return self.backbone.decide(self.embeddings(input_ids), info)

    def new_cache(self, batch: int, device=None, dtype=None) -> HNetCache:
        p = self.embeddings.weight
        return self.backbone.new_cache(batch, device or p.device, dtype or torch.promote_types(p.dtype, torch.float32))

    @torch.no_grad()
    def step(self, input_ids: torch.Tensor, cache: HNetCache, dense: bool = False, block_step=None) -> HNetOutput:
        """One byte per row: input_ids (b,) -> logits (b, vocab) and per-stage decisions.

        `dense`: fixed shapes and no host synchronisation (see `HNet.step`); the caller
        must then have reserved room in global-attention caches (`reserve_positions`),
        which a plain step does itself. `block_step` replaces `Block.step` (compiled).
        """
        if not dense:
            reserve_positions(cache, 1)
        x = self.embeddings(input_ids)
        x, stages = self.backbone.step(x, cache, None, dense, block_step)
        return HNetOutput(logits=self.lm_head(x.to(self.lm_head.weight.dtype)), stages=stages)


def _unbatch_packed(s: StageOutput) -> StageOutput:
    """Packed input is one row; stage outputs drop that row dimension."""
    return StageOutput(s.boundary_prob[0], s.boundary_mask[0], s.selected_prob[0], s.valid[0])
