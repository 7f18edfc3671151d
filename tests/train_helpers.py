"""A micro recipe (a few thousand parameters) so that end-to-end training tests take seconds."""

import json

MICRO = {
    "description": "micro test model",
    "model": {
        "arch_layout": ["m1", ["T1"], "m1"], "d_model": [16, 32], "d_intermediate": [0, 64], "vocab_size": 256,
        "tie_embeddings": False,
        "ssm_cfg": {"chunk_size": 16, "d_conv": 4, "d_state": 8, "expand": 2, "headdim": 8},
        "attn_cfg": {"num_heads": [2, 2], "rotary_emb_dim": [4, 4], "window_size": [-1, -1]},
    },
    "train": {
        "seq_len": 64, "batch_size": 2, "steps": 12, "lr": 0.003, "lr_multipliers": [2.0, 1.0], "warmup": 2,
        "eval_every": 4, "eval_bytes": 2048, "checkpoint_every": 4, "keep_checkpoints": 2, "prefetch": 2,
        "shuffle_rows": 16, "shuffle_docs": 16,
    },
}


def micro_recipe(tmp_path, name="micro", **train) -> str:
    data = json.loads(json.dumps(MICRO))
    data["train"].update(train)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def latest_step(run_dir) -> int:
    """The step of RUN/checkpoints/LATEST (0 while there is none)."""
    try:
        return int((run_dir / "checkpoints" / "LATEST").read_text().strip().split("_")[1])
    except (OSError, ValueError, IndexError):
        return 0
