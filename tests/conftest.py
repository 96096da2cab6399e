"""Shared fixtures: the real data in ../shared/data (override with VSR_SHARED_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("VSR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data() -> Path:
    if not (DATA / "val" / "Set5").is_dir():
        pytest.fail(f"shared data not found at {DATA}: check out ../shared beside the repo or set VSR_SHARED_DATA")
    return DATA


@pytest.fixture(scope="session", autouse=True)
def own_speed_cache(tmp_path_factory):
    """The tests measure into a cache of their own: never a user's ~/.cache/vsr, in or out."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
