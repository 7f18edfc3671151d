"""Models on the Hugging Face Hub, named `org/name` or `org/name@revision`.

The optional `hub` extra (huggingface_hub) fetches a repository snapshot into
its cache and hands back the local folder; from there the folder loads like
any other. huggingface_hub honours HF_HOME / HF_HUB_CACHE for where the cache
lives and HF_HUB_OFFLINE=1 for answering from the cache alone, so we pass
nothing of our own. A local path always wins over a Hub id of the same
spelling.
"""

from __future__ import annotations

import re
from pathlib import Path

from hnet_cli.errors import CheckpointError

# org/name with the Hub's characters, an optional @revision (branch, tag or commit).
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<revision>[^\s@]+))?$")

# What a model repository may hold that we read: configs, weights (single or
# sharded), the model card. Anything else (optimizer states, images) stays remote.
MODEL_FILES = ["*.json", "*.safetensors", "*.pt", "*.pth", "*.bin", "*.ckpt", "README.md"]

INSTALL_HINT = "pip install 'hnet-cli[hub]'"


def parse_hub_id(spec: str | Path) -> tuple[str, str | None] | None:
    """(repo id, revision or None) when `spec` names a Hub model rather than a local path, else None."""
    text = str(spec)
    if Path(text).exists():
        return None
    match = _HUB_ID.match(text)
    if match is None or text.endswith((".pt", ".safetensors", ".json", ".pth", ".bin", ".ckpt")):
        return None
    repo = match.group("repo")
    if repo.startswith(".") or "/." in repo or ".." in repo:
        return None
    return repo, match.group("revision")


def is_hub_id(spec: str | Path) -> bool:
    return parse_hub_id(spec) is not None


def snapshot(spec: str) -> Path:
    """The local folder of a Hub model's snapshot, downloaded when not cached (unless offline)."""
    parsed = parse_hub_id(spec)
    if parsed is None:
        raise CheckpointError(f"{spec}: not a Hugging Face Hub id (org/name or org/name@revision)")
    repo_id, revision = parsed
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors as hub_errors
    except ImportError:
        raise CheckpointError(f"{spec}: no such file or directory; to load it from the Hugging Face Hub "
                              f"install the hub extra: {INSTALL_HINT}") from None
    try:
        folder = huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=MODEL_FILES)
    except hub_errors.LocalEntryNotFoundError:
        raise CheckpointError(f"{spec}: no such path, and not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
                              "while the Hub cannot be reached (HF_HUB_OFFLINE or no network)") from None
    except hub_errors.RevisionNotFoundError:
        raise CheckpointError(f"{spec}: the Hub repository {repo_id} has no revision {revision!r}") from None
    except hub_errors.RepositoryNotFoundError:
        raise CheckpointError(f"{spec}: no such path, nor a model on the Hugging Face Hub (a private one "
                              "needs `hf auth login`)") from None
    except (hub_errors.HfHubHTTPError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{spec}: cannot fetch from the Hugging Face Hub ({first})") from None
    return Path(folder)


def local_path(spec: str | Path) -> Path:
    """`spec` as a local path: itself when it exists (or names no Hub model), else its Hub snapshot."""
    return snapshot(str(spec)) if is_hub_id(spec) else Path(spec)
