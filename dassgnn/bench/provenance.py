"""What a benchmark's results were made with: versions, the git commit (marked ``-dirty``
where tracked files differ), the device, and hashes of the records and checkpoints."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import dassgnn
from dassgnn.bench.config import BenchConfig
from dassgnn.ranking import RankingMethod


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_commit() -> str | None:
    """The checkout's commit, with ``-dirty`` where tracked files differ from it."""
    here = Path(dassgnn.__file__).parent
    try:
        head, status = (
            subprocess.run(cmd, cwd=here, capture_output=True, text=True, timeout=10).stdout
            for cmd in (
                ["git", "rev-parse", "HEAD"],
                ["git", "status", "--porcelain", "--untracked-files=no"],
            )
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.strip()
    return (commit + ("-dirty" if status.strip() else "")) or None


def short_commit(commit: str | None) -> str:
    """The first 10 characters of a commit, keeping its ``-dirty`` mark."""
    if not commit:
        return "unknown"
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def provenance(
    config: BenchConfig, store_path: Path, methods: dict[str, RankingMethod]
) -> dict[str, Any]:
    """What the results were made with: versions, the git commit, device, seeds, hashes
    of the records and of the checkpoints the methods were loaded from (taken when the
    run starts, so a commit made while it runs is not claimed)."""
    import torch_geometric

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dassgnn": dassgnn.__version__,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": config.device,
        "cpu_threads": torch.get_num_threads(),
        "records": str(store_path),
        "records_sha256": _sha256(store_path),
        "checkpoints": {
            m: {"path": str(path), "sha256": _sha256(Path(path))}
            for m, method in methods.items()
            if (path := getattr(method, "checkpoint_", None)) is not None
        },
        "config": config.to_dict(),
    }
