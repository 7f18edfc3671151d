"""Which kernel caches a process asks for (hnet_cli.ops.caches)."""

import pytest

from hnet_cli.ops import caches


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("TRITON_CACHE_AUTOTUNING", "TORCHINDUCTOR_CACHE_DIR", "MAMBA_DETERMINISTIC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return monkeypatch


def test_autotuning_is_cached_and_compiles_kept_under_the_users_cache(env, tmp_path):
    import os

    caches.configure()
    assert os.environ["TRITON_CACHE_AUTOTUNING"] == "1"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "hnet" / "inductor")


def test_cheapest_kernels_mode_is_not_turned_back_into_autotuning(env):
    # mamba_ssm autotunes every config when TRITON_CACHE_AUTOTUNING=1, even in its
    # deterministic (cheapest-config) mode: setting it there would undo the request.
    import os

    env.setenv("MAMBA_DETERMINISTIC", "1")
    caches.configure()
    assert "TRITON_CACHE_AUTOTUNING" not in os.environ


def test_settings_in_the_environment_win(env):
    import os

    env.setenv("TRITON_CACHE_AUTOTUNING", "0")
    env.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere")
    caches.configure()
    assert (os.environ["TRITON_CACHE_AUTOTUNING"], os.environ["TORCHINDUCTOR_CACHE_DIR"]) == ("0", "/somewhere")
