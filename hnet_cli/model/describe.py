"""A plain-data summary of a model (for `hnet info` and run metadata).

Only the config is needed: parameters are counted on a model without
storage (the meta device), so describing a released 1.6B model costs nothing.
The FLOPs per byte depend on how much each stage compresses: a model that
says what it was trained for (its compression targets N, its training length)
is described at those, unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import json
from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model.checkpoint import (
    CONFIG_NAME,
    RUN_FIELDS,
    RUN_INFO_NAME,
    architecture_only,
    locate,
    read_metadata,
)
from hnet_cli.model.config import HNetConfig, load_config
from hnet_cli.model.flops import count_parameters, forward_flops_per_byte
from hnet_cli.model.hnet import HNetLM
from hnet_cli.model.memory import device_memory, estimate
from hnet_cli.model.skeleton import skeleton

DEFAULT_SEQ_LEN = 8192  # the paper's context
DEFAULT_COMPRESSION = 0.25  # per stage, when nothing better is known


def check_shape_arguments(seq_len: int, compression: list[float] | None, num_stages: int | None = None) -> None:
    """Sequence length and compression ratios that describe a real run (ConfigError otherwise)."""
    if seq_len < 1:
        raise ConfigError(f"--seq-len must be at least 1 byte (got {seq_len})")
    if compression is None:
        return
    for ratio in compression:
        if not 0.0 < ratio <= 1.0:
            raise ConfigError(f"--compression {ratio:g}: each ratio L_(s+1)/L_s must be in (0, 1], e.g. 0.25")
    if num_stages is not None and len(compression) != num_stages:
        raise ConfigError(f"--compression gives {len(compression)} ratio(s); this model has {num_stages} "
                          f"stage{'s' * (num_stages != 1)} (one ratio per stage)")


def _is_bare_config(path: Path, config) -> bool:
    # Any .json other than a shard index is a config: a damaged one is then reported as invalid
    # JSON by the config reader, not as "not a checkpoint".
    return config is None and path.suffix.lower() == ".json" and not path.name.endswith(".index.json") \
        and path.is_file()


def _config_and_description(source, config) -> tuple[HNetConfig, dict]:
    """The model's config and what it says about itself (a run that has no checkpoint yet: its records)."""
    path = Path(str(source))
    if _is_bare_config(path, config):
        return HNetConfig.from_json(path), {}
    try:
        files = locate(source)
    except CheckpointError:
        if (path / CONFIG_NAME).is_file() and (path / RUN_INFO_NAME).is_file():  # a run still before its first save
            try:
                info = json.loads((path / RUN_INFO_NAME).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                info = {}
            return HNetConfig.from_json(path / CONFIG_NAME), {k: info[k] for k in RUN_FIELDS if k in info}
        raise
    if config is not None:
        cfg = load_config(config)
    elif files.config is not None:
        cfg = HNetConfig.from_json(files.config)
    else:
        raise ConfigError(f"{source}: no config given; pass --config CONFIG.json (the model's JSON config)")
    return architecture_only(cfg), read_metadata(files)


def _targets(described: dict, stages: int) -> list[float] | None:
    targets = described.get("compression_targets")
    if isinstance(targets, list) and len(targets) == stages and all(
            isinstance(n, (int, float)) and not isinstance(n, bool) and n >= 1 for n in targets):
        return [float(n) for n in targets]
    return None


def describe(source, config=None, seq_len: int | None = None, compression: list[float] | None = None) -> dict:
    """Layout, parameters and forward FLOPs per byte of a model, config, run or Hub id.

    seq_len: default the length the model was trained on, else 8192.
    compression: L_{s+1}/L_s per stage; default 1/N for the model's own targets N, else 0.25.
    """
    check_shape_arguments(DEFAULT_SEQ_LEN if seq_len is None else seq_len, compression)
    cfg, described = _config_and_description(source, config)
    model = skeleton(HNetLM, cfg)
    targets = _targets(described, cfg.num_stages)
    if compression is not None:
        compression_from = "given"
    elif targets is not None:
        compression, compression_from = [1.0 / n for n in targets], "targets"
    else:
        compression, compression_from = [DEFAULT_COMPRESSION] * cfg.num_stages, "default"
    trained_len = described.get("seq_len")
    if seq_len is not None:
        seq_len_from = "given"
    elif isinstance(trained_len, int) and not isinstance(trained_len, bool) and trained_len >= 2:
        seq_len, seq_len_from = trained_len, "training length"
    else:
        seq_len, seq_len_from = DEFAULT_SEQ_LEN, "default"
    check_shape_arguments(seq_len, compression, cfg.num_stages)
    parameters = count_parameters(model)
    weights = estimate(cfg, parameters=parameters)
    training = estimate(cfg, training=True, parameters=parameters)
    have = device_memory("cpu")
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
        "parameters": parameters,
        "parameters_non_embedding": count_parameters(model, exclude_embeddings=True),
        "seq_len": seq_len,
        "seq_len_from": seq_len_from,
        "compression": compression,
        "compression_from": compression_from,
        "targets": targets,
        "domain": described.get("domain"),
        "flops_per_byte": flops.per_byte,
        "memory": {
            "weights_bytes": weights["bytes"],
            "training_bytes": training["bytes"],
            "machine_bytes": have,
            "fits_here": None if have is None else weights["bytes"] <= have,
            "trains_here": None if have is None else training["bytes"] <= have,
        },
        "stages": stages,
        "config": cfg.to_dict(),
    }
