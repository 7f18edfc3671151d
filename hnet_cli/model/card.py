"""The model card (README.md) written next to a checkpoint meant for the Hugging Face Hub.

huggingface_hub (the `hub` extra) writes the card's YAML header, so the Hub
reads its library, tags and pipeline the way it expects; the body says what
the model is and how to use it.
"""

from __future__ import annotations

from hnet_cli.errors import CheckpointError


def model_card_text(model, block: dict) -> str:
    """README.md for a checkpoint folder: YAML header for the Hub, then what the model is and how to load it."""
    try:
        from huggingface_hub import ModelCard, ModelCardData
    except ImportError:
        raise CheckpointError("writing a model card needs huggingface_hub: pip install 'hnet-cli[hub]'") from None
    from hnet_cli.model.flops import count_parameters

    cfg = model.config
    domain = block.get("domain")
    data = ModelCardData(library_name="hnet", pipeline_tag="text-generation",
                         tags=["h-net", "byte-level", "dynamic-chunking", *([domain] if domain else [])])
    stages = cfg.num_stages
    lines = [
        "# H-Net" + (f" ({domain})" if domain else ""),
        "",
        f"A byte-level language model with learned dynamic chunking: {stages} stage{'s' if stages != 1 else ''}, "
        f"widths {', '.join(str(d) for d in cfg.d_model)}, {count_parameters(model):,} parameters.",
        "",
    ]
    facts = [
        ("domain", domain),
        ("reader options", ", ".join(f"{k}={v}" for k, v in sorted((block.get("domain_options") or {}).items()))),
        ("recipe", block.get("recipe")),
        ("compression targets N", ", ".join(f"{n:g}" for n in block.get("compression_targets") or [])),
        ("BOS / EOS bytes", f"{block.get('bos')} / {block.get('eos')}"),
        ("written by", f"hnet {block.get('hnet_version')}"),
    ]
    lines += [f"- {name}: {value}" for name, value in facts if value]
    lines += [
        "",
        "## Use",
        "",
        "```",
        "pip install 'hnet-cli[hub]'",
        "hnet generate ORG/NAME --prompt ...      # this repository's id",
        "hnet eval ORG/NAME held_out_data",
        "```",
        "",
        "```python",
        "import hnet_cli",
        'model = hnet_cli.load("ORG/NAME")',
        "```",
        "",
    ]
    return str(ModelCard("---\n" + data.to_yaml() + "\n---\n\n" + "\n".join(lines)))
