"""The H-Net model layer: pure torch.nn modules, no I/O beyond checkpoints."""

from hnet_cli.model.checkpoint import build_model, load, save_model
from hnet_cli.model.config import HNetConfig, load_config
from hnet_cli.model.hnet import BOS, EOS, HNet, HNetCache, HNetLM, HNetOutput, StageOutput

__all__ = [
    "BOS", "EOS", "HNet", "HNetCache", "HNetConfig", "HNetLM", "HNetOutput", "StageOutput",
    "build_model", "load", "load_config", "save_model",
]
