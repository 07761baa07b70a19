"""What a run was computed from: config, package versions, data checksums, git commit."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

PACKAGES = ("tensorflow", "keras", "keras-hub", "numpy", "meme-keras")


def package_versions() -> dict[str, str | None]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_commit(directory: Path | None = None) -> str | None:
    directory = directory or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def file_checksums(paths) -> dict[str, str]:
    return {str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in paths}


def weights_digest(model) -> str:
    """sha256 of the model's weights in order: equal digests, bit-identical weights."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def provenance(config: dict, data_files, model=None) -> dict:
    """The run's config, package versions, git commit, data checksums, machine and (given
    `model`) its weights digest."""
    weights = {} if model is None else {"model_weights_sha256": weights_digest(model)}
    return {
        **weights,
        "config": config,
        "packages": package_versions(),
        "git_commit": git_commit(),
        "data_sha256": file_checksums(data_files),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
    }
