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
