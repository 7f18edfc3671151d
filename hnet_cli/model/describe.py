"""A plain-data summary of a model (for `hnet info` and run metadata)."""

from __future__ import annotations

import json
from pathlib import Path

from hnet_cli.model.checkpoint import load
from hnet_cli.model.config import HNetConfig
from hnet_cli.model.flops import count_parameters, forward_flops_per_byte
from hnet_cli.model.hnet import HNetLM


def _is_bare_config(path: Path) -> bool:
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        return "arch_layout" in json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False


def describe(source, config=None, seq_len: int = 8192, compression: list[float] | None = None) -> dict:
    path = Path(source)
    if _is_bare_config(path):
        cfg = HNetConfig.from_json(path)
        model = HNetLM(cfg, device="meta")
    else:
        model = load(source, config=config)
        cfg = model.config
    flops = forward_flops_per_byte(cfg, seq_len, compression)
    stages = []
    for s, layout in enumerate(cfg.stages):
        layers = layout.main_str if s == cfg.num_stages else f"{layout.encoder_str} | ... | {layout.decoder_str}"
        stages.append({
            "stage": s, "d_model": cfg.d_model[s], "layers": layers,
            "length_fraction": flops.lengths[s], "flops_per_byte": flops.per_stage[s],
        })
    return {
        "source": str(source),
        "num_stages": cfg.num_stages,
        "parameters": count_parameters(model),
        "parameters_non_embedding": count_parameters(model, exclude_embeddings=True),
        "seq_len": seq_len,
        "compression": compression,
        "flops_per_byte": flops.per_byte,
        "stages": stages,
        "config": cfg.to_dict(),
    }
