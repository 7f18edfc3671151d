"""Training H-Nets and isotropic baselines: `train(TrainJob(...))`, `resume(run_dir)`.

Parts, each small and testable alone: schedule (learning-rate schedules),
optim (AdamW param groups per stage), checkpointer (atomic checkpoints with
exact resume), metrics (metrics.jsonl), health (non-finite loss, runaway
compression), baseline (FLOP-matched isotropic models), distributed
(torchrun/DDP), sharding (FSDP), objective (the loss and one optimizer step),
state (TrainState: what a checkpoint holds besides weights and optimizer),
build (a run's parts from its job), job (TrainJob, TrainResult), trainer
(the Trainer: set-up in __init__, the loop in train()), api (train, resume),
request (TrainRequest: the command's settings as typed -> a TrainJob or a resume).
"""

from hnet_cli.train.api import resume, train
from hnet_cli.train.job import TrainJob, TrainResult
from hnet_cli.train.request import TrainRequest, run_request

__all__ = ["TrainJob", "TrainRequest", "TrainResult", "resume", "run_request", "train"]
