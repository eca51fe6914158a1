"""Shared fixtures: tiny real datasets made once per test session in a temporary Minari directory."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def minari_dir(tmp_path_factory):
    """Every test writes datasets to a private MINARI_DATASETS_PATH, never the user's own."""
    path = tmp_path_factory.mktemp("minari")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(path))
        yield path
