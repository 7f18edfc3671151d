"""Fine-tuning: a run that starts from another model's weights, optionally with parts frozen.

    --init-from RUN|CHECKPOINT|weights.pt   the weights to start from (a run: its BEST, else
                                            LATEST checkpoint, as everywhere); the new run's
                                            model section is that model's config
    --freeze encoder,routing,main           parts whose weights stay exactly as loaded

Parts (a comma list; `.S` restricts a part to stage S, 0 = the byte level):

    embeddings, lm_head      the byte embeddings and the output head
    encoder, decoder         every stage's encoder / decoder stack (encoder.0, decoder.1, ...)
    routing                  every stage's routing module, q and k projections (routing.0, ...)
    main                     the innermost main network (the isotropic stack at the centre);
                             main.S: stage S's whole main network, inner stages included

A frozen parameter gets requires_grad = False before the optimizer is built, so
the optimizer never holds it and it is bit-identical after training. The source
is read once, when the run starts; a resumed fine-tune restores its own
checkpoint and freezes the same parts again (recorded in RUN/run.json).
"""

from __future__ import annotations

from pathlib import Path

from hnet_cli.errors import ConfigError

PARTS = ("embeddings", "lm_head", "encoder", "decoder", "routing", "main")
_STAGE_PARTS = {"encoder": "encoder.", "decoder": "decoder.", "routing": "routing_module.", "main": "main_network."}


def _stage_prefix(stage: int) -> str:
    return "backbone." + "main_network." * stage


def freeze_prefixes(spec: list[str] | str, num_stages: int) -> list[str]:
    """Parameter-name prefixes of the parts in `spec` (see the module docstring)."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [s.strip() for s in spec]
    prefixes: list[str] = []
    for item in filter(None, items):
        part, dot, stage_text = item.partition(".")
        if part not in PARTS:
            raise ConfigError(f"--freeze {item!r}: choose from {', '.join(PARTS)} (optionally .STAGE, e.g. encoder.0)")
        if part in ("embeddings", "lm_head"):
            if dot:
                raise ConfigError(f"--freeze {item!r}: {part} has no stages")
            prefixes.append(part + ".")
            continue
        if num_stages == 0 and part != "main":
            raise ConfigError(f"--freeze {item!r}: an isotropic model has no {part}; freeze main, embeddings or lm_head")
        if dot:
            if not stage_text.isdigit():
                raise ConfigError(f"--freeze {item!r}: the stage after the dot must be a number")
            stage = int(stage_text)
            last = num_stages if part == "main" else num_stages - 1
            if stage > last:
                raise ConfigError(f"--freeze {item!r}: this model's {part} stages are 0..{last}")
            prefixes.append(_stage_prefix(stage) + _STAGE_PARTS[part])
        elif part == "main":
            prefixes.append(_stage_prefix(num_stages) + "main_network.")
        else:
            prefixes += [_stage_prefix(s) + _STAGE_PARTS[part] for s in range(num_stages)]
    return prefixes


def freeze(model, spec: list[str] | str) -> list[str]:
    """Freeze the parts in `spec`; returns the names of the frozen parameters."""
    prefixes = freeze_prefixes(spec, model.config.num_stages)
    frozen = []
    for name, param in model.named_parameters():
        if any(name.startswith(p) for p in prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    if prefixes and not frozen:
        raise ConfigError(f"--freeze {spec!r}: no parameter of this model belongs to those parts")
    if prefixes and len(frozen) == sum(1 for _ in model.parameters()):
        raise ConfigError(f"--freeze {spec!r}: that is every parameter; nothing would be trained")
    return frozen


def source_config(init_from: str, config: str | None = None):
    """The HNetConfig of the model a fine-tune starts from, without its weights."""
    from hnet_cli.model.checkpoint import checkpoint_config

    return checkpoint_config(init_from, config)


def load_initial_weights(model, init_from: str, config: str | None = None) -> str:
    """Copy the weights of `init_from` into `model` (same config, every tensor); returns the
    checkpoint actually read."""
    from hnet_cli.model.checkpoint import load, load_state_dict_strict, resolve_checkpoint_dir

    device = next(model.parameters()).device
    source = load(init_from, config=config, device=device)
    if source.config.to_dict() != model.config.to_dict():
        raise ConfigError(f"--init-from {init_from}: its config differs from the run's model; a fine-tune keeps "
                          "the source's architecture (drop model.* from --set and the recipe's model section)")
    load_state_dict_strict(model, source.state_dict(), str(init_from))
    path = Path(init_from)
    return str(resolve_checkpoint_dir(path)) if path.is_dir() else str(path)
