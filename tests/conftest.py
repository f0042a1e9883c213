"""Shared test set-up: the device list every backend-generic test runs on, and hypothesis profiles.

``device`` runs a test on ``cpu`` (NumPy), on ``strict`` (array-api-strict arrays on a non-CPU
device: it refuses silent NumPy conversion and host/device mixing, as CuPy does, so it proves GPU
safety without a GPU) and on ``cuda`` (CuPy, marked ``gpu``, skipped with the reason when absent).
"""

from __future__ import annotations

import os

# Small models run fastest on one BLAS thread, and a machine running tests in parallel (or
# with other work) slows down badly when every process spins up a pool of BLAS threads. Set before
# NumPy loads; subprocesses (tutorials, benchmarks) inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest
from hypothesis import HealthCheck, settings

import minimm
from minimm import backend as B

settings.register_profile(
    "ci", max_examples=20, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _cuda_param():
    reason = None
    if not B.cuda_is_available():
        reason = "CUDA backend not tested: " + (
            "CuPy is not installed (pip install minimm[gpu])" if B._cupy is None else "CuPy finds no GPU"
        )
    marks = [pytest.mark.gpu] + ([pytest.mark.skip(reason=reason)] if reason else [])
    return pytest.param("cuda", marks=marks, id="cuda")


DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("strict", id="strict", marks=pytest.mark.skipif(
        not B.strict_is_available(), reason="array-api-strict not installed (pip install minimm[test])")),
    _cuda_param(),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """Each backend-generic test runs once per device."""
    return request.param


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread for the whole run, also when NumPy was loaded before this file (the
    environment variables above only work if they come first). threadpoolctl comes with
    scikit-learn, a test dependency."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed, so failures reproduce."""
    minimm.manual_seed(0)
    yield


def pytest_report_header(config):
    """Say at the top of every run whether the PyTorch half of tests/compat_scripts runs."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return ("compat: PyTorch is not installed, so the PyTorch half of tests/compat_scripts is skipped "
                "(pip install 'minimm[compat]' to compare)")
    return f"compat: tests/compat_scripts are compared with PyTorch {importlib.metadata.version('torch')}"
