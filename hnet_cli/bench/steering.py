"""Holding an untrained H-Net at a chosen compression, for benchmarks.

A freshly initialised model's routing puts boundaries wherever its random
features happen to differ; a trained one keeps about 1/N of positions
(paper: 4.5-5 bytes per chunk at stage 0 of a 1-stage model). Speed and memory
depend on that fraction, so benchmarks shift each stage's p_t by one constant
per batch, chosen so that the wanted fraction of valid positions ends above
0.5. The shift is outside the gradient, so the routing still trains and costs
what it costs; document starts keep p = 1.
"""

from __future__ import annotations

import torch

from hnet_cli.model.fast import chunking_stages


def steer_compression(model, fractions: list[float]) -> None:
    """Per batch, make a fraction `fractions[s]` of stage s's valid positions boundaries.

    Generation sees one position per row at a time, where a per-batch fraction
    means nothing: call `freeze_steering` after a forward pass over sample
    text, and every later call (forward or step) reuses that pass's shift.
    """
    stages = chunking_stages(model)
    if len(fractions) != len(stages):
        raise ValueError(f"need one fraction per chunking stage ({len(stages)}), got {len(fractions)}")
    for stage, fraction in zip(stages, fractions):
        routing = stage.routing_module
        original = type(routing)._outputs
        state = {"threshold": None, "frozen": False}

        def outputs(p, valid, fraction=fraction, original=original, state=state):
            if not state["frozen"]:
                with torch.no_grad():
                    flat = p.detach()[valid] if valid is not None else p.detach().flatten()
                    k = min(flat.numel(), max(1, round((1 - fraction) * flat.numel())))
                    state["threshold"] = flat.kthvalue(k).values
            shifted = (p + (0.5 - state["threshold"])).clamp(0.0, 1.0)
            return original(torch.where(p >= 1.0, p, shifted), valid)

        outputs.steering_state = state
        routing._outputs = outputs


def freeze_steering(model) -> None:
    """Keep the shifts of the last forward pass from now on."""
    for stage in chunking_stages(model):
        stage.routing_module._outputs.steering_state["frozen"] = True
