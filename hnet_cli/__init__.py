"""hnet: train, evaluate, sample and inspect H-Nets.

An H-Net is a byte-level language model that learns its own segmentation
("dynamic chunking"). The public Python API:

    import hnet_cli
    model = hnet_cli.load("runs/dna")                    # our run or checkpoint dir
    model = hnet_cli.load("hnet_1stage_L.pt", config="config_hnet_1stage_L.json")
    out = model(input_ids, mask=mask)                    # HNetOutput
    out.logits, out.stages[0].boundary_prob, out.stages[0].boundary_mask
"""

from hnet_cli.version import __version__

__all__ = ["__version__", "load", "HNetConfig", "HNetLM", "HnetError"]


def __getattr__(name):
    # Lazy imports keep `hnet --help` fast: torch is only imported when needed.
    if name == "load":
        from hnet_cli.model.checkpoint import load

        return load
    if name == "HNetConfig":
        from hnet_cli.model.config import HNetConfig

        return HNetConfig
    if name == "HNetLM":
        from hnet_cli.model.hnet import HNetLM

        return HNetLM
    if name == "HnetError":
        from hnet_cli.errors import HnetError

        return HnetError
    raise AttributeError(f"module 'hnet_cli' has no attribute {name!r}")
