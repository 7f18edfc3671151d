"""Model configuration in the official H-Net JSON format.

The format (DESIGN.md §1) is loaded unchanged, so released configs work as is:

    {"arch_layout": ["m4", ["T22"], "m4"], "d_model": [1024, 1536],
     "d_intermediate": [0, 4096], "vocab_size": 256, "tie_embeddings": false,
     "ssm_cfg": {"chunk_size": 256, "d_conv": 4, "d_state": 128, "expand": 2},
     "attn_cfg": {"num_heads": [16, 16], "rotary_emb_dim": [32, 48],
                  "window_size": [1023, -1]}}

`arch_layout` nests one list per stage: `[encoder, inner, decoder]` for an
outer stage, `[main]` for the innermost one. A layer string is a sequence of
letter+count pairs (`m` Mamba-2, `t` attention, `M`/`T` the same followed by a
SwiGLU MLP). Per-stage lists index by stage s (0 = bytes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hnet_cli import jsonio
from hnet_cli.errors import ConfigError

LAYER_PATTERN = re.compile(r"([mMtT])(\d+)")
MAMBA_HEADDIM = 64  # mamba_ssm Mamba2's default, which the released models use
SWIGLU_MULTIPLE = 128


@dataclass(frozen=True)
class SSMConfig:
    d_state: int = 128
    d_conv: int = 4
    expand: int = 2
    chunk_size: int = 256
    headdim: int = MAMBA_HEADDIM


@dataclass(frozen=True)
class AttnConfig:
    num_heads: tuple[int, ...]
    rotary_emb_dim: tuple[int, ...]
    window_size: tuple[int, ...]


@dataclass(frozen=True)
class LayerSpec:
    """One block: its mixer ("mamba" or "attention") and whether a SwiGLU MLP follows."""

    mixer: str
    has_mlp: bool

    @property
    def letter(self) -> str:
        letter = "m" if self.mixer == "mamba" else "t"
        return letter.upper() if self.has_mlp else letter


def parse_layer_string(text: str, where: str = "arch_layout") -> list[LayerSpec]:
    """'m4T1' -> [mamba x4, attention+mlp x1]. Anything else in the string is an error."""
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected a layer string like 'm4' or 'T1m4', got {text!r}")
    pos = 0
    layers: list[LayerSpec] = []
    for match in LAYER_PATTERN.finditer(text):
        if match.start() != pos:
            break
        letter, count = match.group(1), int(match.group(2))
        mixer = "mamba" if letter in "mM" else "attention"
        layers.extend(LayerSpec(mixer, letter.isupper()) for _ in range(count))
        pos = match.end()
    if pos != len(text) or not text:
        bad = text[pos:pos + 1] or "(empty)"
        raise ConfigError(
            f"{where}: cannot parse layer string {text!r} at {bad!r}; "
            "use letter+count pairs with letters m, M (Mamba-2), t, T (attention), e.g. 'm4' or 'T1m4'"
        )
    return layers


@dataclass(frozen=True)
class StageLayout:
    """The layers of one stage: encoder/decoder for outer stages, main for the innermost."""

    encoder: tuple[LayerSpec, ...] = ()
    decoder: tuple[LayerSpec, ...] = ()
    main: tuple[LayerSpec, ...] = ()
    encoder_str: str = ""
    decoder_str: str = ""
    main_str: str = ""


@dataclass
class HNetConfig:
    """An H-Net configuration, official JSON field names."""

    arch_layout: list
    d_model: list[int]
    d_intermediate: list[int]
    vocab_size: int = 256
    tie_embeddings: bool = False
    ssm_cfg: dict = field(default_factory=dict)
    attn_cfg: dict = field(default_factory=dict)
    # Extra keys we do not know are kept so that a round trip loses nothing.
    extra: dict = field(default_factory=dict)
    # arch_layout parsed once (by validate, or on first use); the layout is not changed afterwards.
    _layouts: list | None = field(default=None, init=False, repr=False, compare=False)

    # ---- derived views -------------------------------------------------
    @property
    def num_stages(self) -> int:
        """S: the number of chunking stages (0 for an isotropic model)."""
        return len(self.stages) - 1

    @property
    def stages(self) -> list[StageLayout]:
        if self._layouts is None:
            self._layouts = _stage_layouts(self.arch_layout)
        return self._layouts

    @property
    def ssm(self) -> SSMConfig:
        known = {k: v for k, v in self.ssm_cfg.items() if k in SSMConfig.__dataclass_fields__}
        return SSMConfig(**known)

    @property
    def attn(self) -> AttnConfig:
        n = len(self.d_model)
        heads = self.attn_cfg.get("num_heads", [max(1, d // 64) for d in self.d_model])
        rotary = self.attn_cfg.get("rotary_emb_dim", [0] * n)
        window = self.attn_cfg.get("window_size", [-1] * n)
        return AttnConfig(tuple(heads), tuple(rotary), tuple(window))

    def mlp_width(self, stage: int) -> int:
        """SwiGLU hidden width: d_intermediate rounded up to a multiple of 128."""
        d = self.d_intermediate[stage]
        return (d + SWIGLU_MULTIPLE - 1) // SWIGLU_MULTIPLE * SWIGLU_MULTIPLE

    # ---- (de)serialisation ---------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "HNetConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object")
        missing = [k for k in ("arch_layout", "d_model") if k not in data]
        if missing:
            raise ConfigError(f"{source}: missing required field(s): {', '.join(missing)}")
        known = {"arch_layout", "d_model", "d_intermediate", "vocab_size", "tie_embeddings", "ssm_cfg", "attn_cfg"}
        d_model = data["d_model"]
        cfg = cls(
            arch_layout=data["arch_layout"],
            d_model=list(d_model) if isinstance(d_model, (list, tuple)) else d_model,
            d_intermediate=list(data.get("d_intermediate", [0] * (len(d_model) if isinstance(d_model, list) else 1))),
            vocab_size=data.get("vocab_size", 256),
            tie_embeddings=data.get("tie_embeddings", False),
            ssm_cfg=dict(data.get("ssm_cfg", {})),
            attn_cfg={k: list(v) if isinstance(v, (list, tuple)) else v for k, v in data.get("attn_cfg", {}).items()},
            extra={k: v for k, v in data.items() if k not in known},
        )
        cfg.validate(source)
        return cfg

    @classmethod
    def from_json(cls, path: str | Path) -> "HNetConfig":
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
        try:
            data = jsonio.loads(text)
        except jsonio.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "arch_layout": self.arch_layout,
            "d_model": list(self.d_model),
            "d_intermediate": list(self.d_intermediate),
            "vocab_size": self.vocab_size,
            "ssm_cfg": dict(self.ssm_cfg),
            "attn_cfg": dict(self.attn_cfg),
            "tie_embeddings": self.tie_embeddings,
        }
        out.update(self.extra)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=4)

    # ---- validation ----------------------------------------------------
    def validate(self, source: str = "config") -> None:
        """Reject configs the model cannot build, with a message naming the field."""
        stages = self._layouts = _stage_layouts(self.arch_layout, source)
        n = len(stages)

        def per_stage(name: str, values, kind=int):
            if not isinstance(values, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
                raise ConfigError(f"{source}: {name} must be a list of integers, one per stage")
            if len(values) < n:
                raise ConfigError(
                    f"{source}: {name} has {len(values)} entries but arch_layout has {n} stage(s)"
                )

        per_stage("d_model", self.d_model)
        per_stage("d_intermediate", self.d_intermediate)
        if not isinstance(self.vocab_size, int) or self.vocab_size < 1:
            raise ConfigError(f"{source}: vocab_size must be a positive integer")
        for s in range(n):
            if self.d_model[s] <= 0:
                raise ConfigError(f"{source}: d_model[{s}] must be positive")
            if s > 0 and self.d_model[s] < self.d_model[s - 1]:
                raise ConfigError(
                    f"{source}: d_model[{s}]={self.d_model[s]} is narrower than d_model[{s - 1}]="
                    f"{self.d_model[s - 1]}; inner stages must be at least as wide as outer ones"
                )
        ssm = self.ssm_cfg
        for key, value in ssm.items():
            if key in SSMConfig.__dataclass_fields__ and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"{source}: ssm_cfg.{key} must be a positive integer")
        attn = self.attn_cfg
        for key in ("num_heads", "rotary_emb_dim", "window_size"):
            if key in attn:
                per_stage(f"attn_cfg.{key}", attn[key])
        a = self.attn
        sc = self.ssm
        for s, stage in enumerate(stages):
            layers = stage.encoder + stage.decoder + stage.main
            if any(l.has_mlp for l in layers) and self.d_intermediate[s] <= 0:
                raise ConfigError(
                    f"{source}: stage {s} uses M/T blocks (with an MLP) but d_intermediate[{s}] is {self.d_intermediate[s]}"
                )
            d = self.d_model[s]
            if any(l.mixer == "attention" for l in layers):
                heads = a.num_heads[s]
                if heads <= 0 or d % heads:
                    raise ConfigError(f"{source}: attn_cfg.num_heads[{s}]={heads} does not divide d_model[{s}]={d}")
                head_dim = d // heads
                rot = a.rotary_emb_dim[s]
                if rot < 0 or rot > head_dim or rot % 2:
                    raise ConfigError(
                        f"{source}: attn_cfg.rotary_emb_dim[{s}]={rot} must be even and at most the head size {head_dim}"
                    )
                if a.window_size[s] < -1:
                    raise ConfigError(f"{source}: attn_cfg.window_size[{s}] must be -1 (global) or >= 0")
            if any(l.mixer == "mamba" for l in layers):
                d_inner = sc.expand * d
                if d_inner % sc.headdim:
                    raise ConfigError(
                        f"{source}: Mamba-2 at stage {s} needs expand*d_model ({d_inner}) divisible by headdim {sc.headdim}"
                    )


def _stage_layouts(arch_layout, source: str = "config") -> list[StageLayout]:
    """Walk the nested arch_layout: [enc, [inner...], dec] or [main]."""
    stages: list[StageLayout] = []
    node = arch_layout
    depth = 0
    while True:
        where = f"{source}: arch_layout" + "[1]" * depth
        if not isinstance(node, list) or len(node) not in (1, 3):
            raise ConfigError(
                f"{where} must be a list of 3 ([encoder, inner, decoder]) or 1 ([main]) items, got {node!r}"
            )
        if len(node) == 1:
            main = node[0]
            if isinstance(main, list):
                raise ConfigError(f"{where}[0] must be a layer string, got a list (too much nesting)")
            stages.append(StageLayout(main=tuple(parse_layer_string(main, f"{where}[0]")), main_str=main))
            return stages
        enc, inner, dec = node
        if not isinstance(enc, str) or not isinstance(dec, str):
            raise ConfigError(f"{where}: encoder and decoder must be layer strings, got {enc!r} and {dec!r}")
        if not isinstance(inner, list):
            raise ConfigError(f"{where}[1] must be a nested list (the inner network), got {inner!r}")
        stages.append(
            StageLayout(
                encoder=tuple(parse_layer_string(enc, f"{where}[0]")),
                decoder=tuple(parse_layer_string(dec, f"{where}[2]")),
                encoder_str=enc,
                decoder_str=dec,
            )
        )
        node = inner
        depth += 1


def load_config(source: str | Path | dict | HNetConfig) -> HNetConfig:
    """A config from a path, a dict or an HNetConfig."""
    if isinstance(source, HNetConfig):
        return source
    if isinstance(source, dict):
        return HNetConfig.from_dict(source)
    return HNetConfig.from_json(source)
