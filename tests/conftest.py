import os
from pathlib import Path

import pytest
import torch

# On a GPU, mamba_ssm's Triton kernels take their cheapest configuration instead of
# autotuning every new shape (about 20 s each, minutes over the suite); they compute
# the same functions, which is what the tests check. Set before any kernel module loads;
# with cached autotuning on, mamba_ssm would autotune anyway (hnet_cli.ops.caches).
os.environ.setdefault("MAMBA_DETERMINISTIC", "1")
os.environ.pop("TRITON_CACHE_AUTOTUNING", None)

# Tests compare against fp32 references: no TF32, few threads (CI has 2 cores).
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_num_threads(min(2, os.cpu_count() or 1))

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = FIXTURES / "official"


@pytest.fixture
def official_dir():
    return OFFICIAL


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (tiny step-by-step work is faster that way)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Property-based tests (hypothesis) run from one seed per session, chosen at random unless
# given (--hypothesis-seed=N, or HYPOTHESIS_SEED=N), and a failing test prints it, so any
# failure can be replayed exactly. The controller passes it to xdist's workers through the
# environment they inherit.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not hasattr(config.option, "hypothesis_seed"):
        return
    if config.option.hypothesis_seed is None:
        import random

        config.option.hypothesis_seed = int(os.environ.get("HYPOTHESIS_SEED") or random.randrange(1 << 31))
    os.environ["HYPOTHESIS_SEED"] = str(config.option.hypothesis_seed)  # xdist workers inherit it


def pytest_report_header(config):
    seed = getattr(config.option, "hypothesis_seed", None)
    return [f"hypothesis seed: {seed} (replay with --hypothesis-seed={seed})"] if seed is not None else []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    seed = getattr(item.config.option, "hypothesis_seed", None)
    if report.failed and seed is not None and getattr(item.obj, "is_hypothesis_test", False):
        report.sections.append(("hypothesis seed", f"replay with: pytest --hypothesis-seed={seed} {item.nodeid}"))
