"""What a training run is asked to do (TrainJob) and what it reports (TrainResult)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from hnet_cli.recipes import Recipe


@dataclass
class TrainJob:
    """Everything a run needs. `paths=[]` trains on the domain's bundled data."""

    recipe: Recipe
    domain: str
    paths: list[str] = field(default_factory=list)
    domain_options: dict = field(default_factory=dict)  # given reader options (override the recipe's)
    out: str | Path = "runs/run"
    arch: str = "hnet"
    device: str = "auto"
    force: bool = False
    # Fine-tuning (hnet_cli.train.finetune): start from these weights (recipe.model must be their
    # config), with these parts frozen.
    init_from: str | None = None
    init_config: str | None = None  # config JSON for an official .pt given as init_from
    freeze: list[str] = field(default_factory=list)
    # Fit the Markov yardstick (hnet_cli.eval.yardstick) and report it beside the validation figures.
    yardstick: bool = True


@dataclass
class TrainResult:
    run_dir: str
    domain: str
    unit: str
    steps: int
    total_steps: int
    bytes_seen: int
    train_loss: float | None
    train_bpb: float | None
    val_bpb: float | None  # at the last evaluation
    val_bits_per_unit: float | None
    best_val_bpb: float | None
    best_val_bits_per_unit: float | None
    best_step: int | None
    compression: list[float]  # L_{s+1}/L_s per stage, last logged training step
    bytes_per_chunk: list[float]  # L_0/L_{s+1}
    targets: list[float]
    parameters: int
    elapsed_s: float  # training time in this process's sessions
    bytes_per_s: float | None
    warnings: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    rank: int = 0  # this process under torchrun (0 = the one that reports)
    world_size: int = 1
    # What an order-k Markov chain fitted on the training part scores on the validation data
    # (hnet_cli.eval.yardstick.YardstickFigure.as_dict), or None when turned off or not computable.
    yardstick: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)
