import os
from pathlib import Path

import pytest
import torch

# Tests compare against fp32 references: no TF32, few threads (CI has 2 cores).
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_num_threads(min(2, os.cpu_count() or 1))

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = FIXTURES / "official"


@pytest.fixture
def official_dir():
    return OFFICIAL
