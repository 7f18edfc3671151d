"""The training objective (paper §2.3) and the statistics of one step or evaluation.

Next-byte cross-entropy over the positions whose target lies in the same
document (document boundaries are resets; nothing is trained across them),
plus alpha * sum_s L_ratio(stage s, N_s).

With P processes and A micro-batches per step (units u = 1..P*A), process p
back-propagates, for its micro-batch m,

    P * CE_sum(p, m) / n_targets(all units)  +  alpha * sum_s L_ratio(s; p, m) / A

and DDP averages over processes, so the gradient is that of
CE_sum(all) / n_targets(all) + alpha * mean over units of sum_s L_ratio: the
same for one process with grad_accum = P*A as for P processes (tested).

Where F and G of L_ratio are counted (train.ratio_stats):
- "unit" (above): over each micro-batch of each process. The objective depends on
  the rows of a micro-batch only, never on P or A, so a run resumed on another
  number of processes (grad_accum adjusted) continues the same objective.
- "global": over micro-batch m of all P processes together, as one process with
  a P times larger micro-batch would. F and the position count are summed over
  processes in the forward (one all_reduce of 2S counts per micro-batch); F has no
  gradient and L_ratio is linear in G given F, so process p back-propagates
  P * alpha * share_p(m) / A, its exact share of L_ratio(m) (losses.ratio_loss_share),
  and DDP's average gives the gradient of alpha * mean over m of L_ratio(m).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from hnet_cli.data.packing import Batch, collate, pack_documents
from hnet_cli.model.hnet import HNetLM
from hnet_cli.model.losses import cross_entropy_sum, ratio_counts, ratio_loss_share
from hnet_cli.runtime import autocast
from hnet_cli.train import distributed as dist_util
from hnet_cli.train.health import check_finite
from hnet_cli.train.sharding import norm_tensor, set_gradient_sync


@dataclass
class StepStats:
    """Sums over the micro-batches (and, after all_reduce, the processes) of one step or evaluation."""

    ce_sum: float
    n_targets: float
    ratio_sum: list[float]  # per stage, summed over units
    boundaries: list[float]
    positions: list[float]

    @staticmethod
    def zeros(stages: int, device) -> torch.Tensor:
        """The packed layout [ce_sum, n_targets, ratios (S), boundaries (S), positions (S)], all zero."""
        return torch.zeros(2 + 3 * stages, dtype=torch.float64, device=device)

    @staticmethod
    def add(packed: torch.Tensor, ce_sum, ratios, boundaries, positions) -> None:
        """Add one forward pass's statistics (tensors on the device; ratios may be None) to `packed`,
        without a host sync."""
        S = len(boundaries)
        packed[0] += ce_sum.detach().double()
        if S:
            if ratios is not None:
                packed[2:2 + S] += torch.stack([r.detach() for r in ratios]).double()
            packed[2 + S:2 + 2 * S] += torch.stack(boundaries).double()
            packed[2 + 2 * S:] += torch.stack(positions).double()

    @classmethod
    def from_list(cls, v: list[float], stages: int) -> "StepStats":
        S = stages
        return cls(v[0], v[1], v[2:2 + S], v[2 + S:2 + 2 * S], v[2 + 2 * S:2 + 3 * S])

    @classmethod
    def unpack(cls, t: torch.Tensor, stages: int) -> "StepStats":
        return cls.from_list(t.tolist(), stages)

    @property
    def ce(self) -> float:
        return self.ce_sum / max(1.0, self.n_targets)

    @property
    def compression(self) -> list[float]:
        return [b / max(1.0, p) for b, p in zip(self.boundaries, self.positions)]


RATIO_STATS = ("unit", "global")


def forward_stats(model, batch: Batch, targets: list[float], pooled_over: int = 1):
    """One forward pass: ce_sum, [ratio loss per stage], [boundaries], [positions].

    `pooled_over` = P > 1 (train.ratio_stats=global): F and the position count of the
    ratio loss are totals over this micro-batch of all P processes (a collective: every
    process must call it), and the ratio loss is this process's share of it (see the
    module docstring). Boundaries and positions returned are this process's own.
    All are tensors on the model's device: reading them would wait for the GPU, so
    the caller reads a whole step's statistics at once.
    """
    out = model(batch.input_ids, seq_idx=batch.seq_idx, mask=batch.mask)
    ce_sum = cross_entropy_sum(out.logits[:, :-1], batch.input_ids[:, 1:], batch.target_mask)
    counts = [ratio_counts(stage.boundary_mask, stage.boundary_prob, stage.valid) for stage in out.stages[:len(targets)]]
    boundaries, prob_sums, positions = ([c[i] for c in counts] for i in range(3))
    pool_boundaries, pool_positions, share = boundaries, positions, 1.0
    if pooled_over > 1 and counts:
        totals = dist_util.all_reduce_sum(torch.stack(boundaries + positions))
        S = len(counts)
        pool_boundaries, pool_positions, share = totals[:S], totals[S:], 1.0 / pooled_over
    ratios = [ratio_loss_share(b, g, n, share, N)
              for b, g, n, N in zip(pool_boundaries, prob_sums, pool_positions, targets)]
    return ce_sum, ratios, [b.double() for b in boundaries], [n.double() for n in positions]


def global_targets(batches: list[Batch], world_size: int, device, known: int | None = None) -> float:
    """Targets of this step over all processes: `known` (the loader counts them), else counted
    here (under torchrun a collective, and a wait for the GPU to read its result)."""
    if known is not None:
        return float(known)
    local = float(sum(b.n_targets for b in batches))
    if world_size == 1:
        return local
    return float(dist_util.all_reduce_sum(torch.tensor([local], dtype=torch.float64, device=device))[0])


def pooled_over(ratio_stats: str, world_size: int) -> int:
    """Processes whose same micro-batch shares one F and G (1: each unit its own)."""
    if ratio_stats not in RATIO_STATS:
        raise ValueError(f"ratio_stats must be one of {', '.join(RATIO_STATS)}, got {ratio_stats!r}")
    return world_size if ratio_stats == "global" else 1


def accumulate_gradients(forward_model, ddp, batches: list[Batch], targets: list[float], alpha: float,
                         world_size: int, device, dtype, sharded: bool = False,
                         ratio_stats: str = "unit", n_targets: int | None = None) -> torch.Tensor:
    """Forward and backward over this process's micro-batches of one step.

    Back-propagates P * CE_sum / n_targets(all processes) + alpha * sum_s L_ratio / A per
    micro-batch (or, ratio_stats="global", P times this process's share of the pooled
    L_ratio; see the module docstring); DDP averages the gradients over the P processes.
    Returns the step's statistics summed over processes, packed on the device (see
    `StepStats`; n_targets filled in): nothing here waits for the GPU.
    """
    S, A = len(targets), len(batches)
    pool = pooled_over(ratio_stats, world_size)
    n_global = global_targets(batches, world_size, device, n_targets)
    packed = StepStats.zeros(S, device)
    for m, batch in enumerate(batches):
        # DDP and FSDP: average gradients once, after the last micro-batch.
        sync = contextlib.nullcontext() if (ddp is None or m == A - 1) else ddp.no_sync()
        if sharded:
            set_gradient_sync(forward_model, m == A - 1)
        with sync:
            with autocast(device, dtype):
                ce_sum, ratios, b, p = forward_stats(forward_model, batch, targets, pool)
            loss = ce_sum * (world_size / max(1.0, n_global))
            if ratios:
                loss = loss + alpha * pool * torch.stack(ratios).sum() / A
            loss.backward()
        StepStats.add(packed, ce_sum, ratios, b, p)
    packed = dist_util.all_reduce_sum(packed)
    packed[1] = n_global  # already summed over processes
    return packed


@dataclass
class StepResult:
    stats: StepStats
    ratio_means: list[float]  # L_ratio per stage, averaged over the step's units (or pooled units)
    loss: float  # CE + alpha * sum of ratio_means
    grad_norm: float  # before clipping


def train_step(forward_model, ddp, optimizer, params, batches: list[Batch], targets: list[float], alpha: float,
               world_size: int, device, dtype, grad_clip: float, step_number: int,
               sharded: bool = False, ratio_stats: str = "unit", n_targets: int | None = None) -> StepResult:
    """One optimizer step of `hnet train` (and what `hnet bench` times).

    Forward and backward over the micro-batches, gradient clipping, then the step's
    single wait for the GPU (statistics and gradient norm read together; give `n_targets`,
    the step's targets over all processes, or under torchrun counting them is a second), the
    finiteness checks, and the optimizer update. Raises TrainingDiverged (naming
    `step_number`) before updating when the loss or the gradient norm is not finite.
    """
    packed = accumulate_gradients(forward_model, ddp, batches, targets, alpha, world_size, device, dtype,
                                  sharded=sharded, ratio_stats=ratio_stats, n_targets=n_targets)
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
    *values, grad_norm = torch.cat([packed, norm_tensor(norm).to(packed).reshape(1)]).tolist()
    stats = StepStats.from_list(values, len(targets))
    # Summed over processes: unit losses (P*A of them), or shares adding up to A pooled losses.
    groups = len(batches) * world_size // pooled_over(ratio_stats, world_size)
    ratio_means = [r / groups for r in stats.ratio_sum]
    loss_value = stats.ce + alpha * sum(ratio_means)
    check_finite(step_number, loss=loss_value)
    check_finite(step_number, **{"gradient norm": grad_norm})
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepResult(stats, ratio_means, loss_value, grad_norm)


@torch.no_grad()
def validation_stats(model: HNetLM, batches: list[Batch], targets: list[float], device, dtype,
             collective: bool = False) -> StepStats:
    """Cross-entropy and compression on this process's validation rows, summed over processes.

    `collective`: every forward is a collective (a sharded model), so each process runs
    as many as the busiest one; the extra passes repeat a batch and are not counted.
    """
    was_training = model.training
    model.eval()
    S = len(targets)
    packed = StepStats.zeros(S, device)
    n_total = 0.0
    if collective:
        most = dist_util.all_reduce_max(torch.tensor([float(len(batches))], device=device))
        for _ in range(int(most[0]) - len(batches)):
            with torch.no_grad(), autocast(device, dtype):
                forward_stats(model, (batches[0] if batches else _dummy_batch()).to(device), targets)
    for batch in batches:
        batch = batch.to(device)
        with autocast(device, dtype):
            ce_sum, _, b, p = forward_stats(model, batch, targets)
        StepStats.add(packed, ce_sum, None, b, p)
        n_total += batch.n_targets
    model.train(was_training)
    packed[1] = n_total
    return StepStats.unpack(dist_util.all_reduce_sum(packed), S)


def _dummy_batch() -> Batch:
    """A one-row batch for a process that has no validation rows of its own (sharded evaluation)."""
    return collate(list(pack_documents([b"A"], 2, carry_context=True, pad_last=True)))
