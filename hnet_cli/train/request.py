"""`hnet train`'s settings as typed (names, `--set` pairs, `key=value` reader options) -> a TrainJob, or a resume.

    from hnet_cli.train.request import TrainRequest, run_request
    result = run_request(TrainRequest(domain="dna", steps=100))            # new run in runs/dna
    result = run_request(TrainRequest(resume="runs/dna", steps=200))       # continue it

What the command used to work out itself lives here: which flags a resume
forbids, the domain (a fine-tuning source's own when none is given), the
recipe with its overrides, the FLOP-matched baseline, the fine-tuning source's
architecture and frozen parts, and the default run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hnet_cli.errors import ConfigError
from hnet_cli.train.job import TrainJob, TrainResult


@dataclass
class TrainRequest:
    """Everything `hnet train` takes (but --list-recipes and output flags); the defaults are the command's."""

    paths: list[str] = field(default_factory=list)
    domain: str | None = None  # None: the fine-tuning source's domain, else the default domain
    recipe: str | None = None  # a name or a JSON file; None: the domain's default recipe
    arch: str = "hnet"
    out: str | None = None  # None: default_out(...)
    steps: int | None = None
    overrides: list[str] = field(default_factory=list)  # --set FIELD=VALUE
    domain_options: list[str] = field(default_factory=list)  # --domain-opt KEY=VALUE
    device: str = "auto"
    resume: str | None = None  # a run directory to continue exactly
    init_from: str | None = None  # fine-tune from these weights
    config: str | None = None  # config JSON of an official .pt given to init_from
    freeze: str | None = None  # comma list of parts kept as loaded
    force: bool = False
    yardstick: bool = True  # fit and report the Markov yardstick (hnet_cli.eval.yardstick)


def run_request(request: TrainRequest, reporter=None) -> TrainResult:
    """Resume the named run, or start the one the request describes."""
    from hnet_cli.train.api import resume, train

    if request.resume is not None:
        check_resume(request)
        return resume(request.resume, device=request.device, steps=request.steps, reporter=reporter,
                      yardstick=request.yardstick)
    return train(build_job(request), reporter=reporter)


def check_resume(request: TrainRequest) -> None:
    """A resumed run keeps its own recipe and data: only the step count and the device may change."""
    given = [flag for flag, value in (
        ("PATHS", request.paths), ("--domain", request.domain), ("--recipe", request.recipe),
        ("--set", request.overrides), ("--domain-opt", request.domain_options), ("--force", request.force),
        ("--init-from", request.init_from), ("--freeze", request.freeze), ("--config", request.config),
        ("--arch", request.arch if request.arch != "hnet" else None)) if value]
    if given:
        raise ConfigError(f"--resume continues a run with its own recipe and data; drop {', '.join(given)} "
                          "(only --steps, --device and --no-yardstick may change)")
    out = request.out
    if out is not None and out.rstrip("/") != request.resume.rstrip("/"):
        raise ConfigError(f"--out {out} and --resume {request.resume} name different runs")


def build_job(request: TrainRequest) -> TrainJob:
    """The TrainJob of a new run (or a fine-tuning run); every setting checked before any work."""
    from hnet_cli.data.domain import option_pairs
    from hnet_cli.data.registry import DEFAULT_DOMAIN, get_domain
    from hnet_cli.recipes import load_recipe
    from hnet_cli.train.baseline import baseline_recipe
    from hnet_cli.train.build import resolve_targets
    from hnet_cli.train.finetune import freeze_prefixes, source_config

    _check_new_run(request)
    domain = request.domain
    if domain is None and request.init_from is not None:
        from hnet_cli.run import resolve

        domain = resolve(request.init_from, config=request.config, paths=request.paths).domain.name  # as trained
    dom = get_domain(domain or DEFAULT_DOMAIN)
    recipe_name = request.recipe or dom.default_recipe or "tiny"
    recipe = load_recipe(recipe_name, list(request.overrides))
    if request.init_from is not None:
        recipe.model = source_config(request.init_from, request.config)
    freeze_prefixes(request.freeze or "", recipe.model.num_stages)  # a bad --freeze fails before any work
    if request.steps is not None:
        recipe.train.schedule.set_steps(request.steps)
    if request.arch != "hnet":
        recipe = baseline_recipe(recipe, request.arch, resolve_targets(recipe, dom))
    options = dom.given_options(option_pairs(request.domain_options))
    dom.resolve_options(options)  # checked together too (e.g. text's encoding), before any work
    out = request.out
    if out is None and request.init_from is not None:
        out = f"runs/{Path(request.init_from.rstrip('/')).stem}-finetune"
    return TrainJob(recipe=recipe, domain=dom.name, paths=list(request.paths), domain_options=options,
                    out=out or default_out(dom, recipe_name, request.arch), arch=request.arch,
                    device=request.device, force=request.force, init_from=request.init_from,
                    init_config=request.config,
                    freeze=[p.strip() for p in (request.freeze or "").split(",") if p.strip()],
                    yardstick=request.yardstick)


def _check_new_run(request: TrainRequest) -> None:
    from hnet_cli.train.baseline import ARCHS

    if request.arch not in ARCHS:
        raise ConfigError(f"--arch {request.arch!r}: choose one of {', '.join(ARCHS)}")
    fine_tuning = request.init_from is not None
    if request.config is not None and not fine_tuning:
        raise ConfigError("--config gives the architecture of an official .pt for --init-from")
    if fine_tuning and any(o.strip().startswith("model.") for o in request.overrides):
        raise ConfigError("--init-from keeps the source's architecture; model.* cannot be --set")
    if fine_tuning and request.arch != "hnet":
        raise ConfigError("--init-from keeps the source's architecture; --arch does not apply")
    if request.steps is not None and request.steps <= 0:
        raise ConfigError("--steps must be positive")


def default_out(domain, recipe_name: str, arch: str) -> str:
    """runs/DOMAIN, with -RECIPE for a recipe other than the domain's and -ARCH for a baseline."""
    name = domain.name
    if recipe_name != domain.default_recipe:
        name += f"-{recipe_name}"
    if arch != "hnet":
        name += f"-{arch}"
    return f"runs/{name}"
