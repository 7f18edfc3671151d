"""Training H-Nets and isotropic baselines: `train(TrainJob(...))`, `resume(run_dir)`.

Parts, each small and testable alone: schedule (learning-rate schedules),
optim (AdamW param groups per stage), checkpointer (atomic checkpoints with
exact resume), metrics (metrics.jsonl), health (non-finite loss, runaway
compression), baseline (FLOP-matched isotropic models), distributed
(torchrun/DDP), rundir (the run directory), loop (the loop itself).
"""

from hnet_cli.train.loop import TrainJob, TrainResult, resume, train

__all__ = ["TrainJob", "TrainResult", "resume", "train"]
