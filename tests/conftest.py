"""Fixtures shared by several test modules."""

from pathlib import Path

import pytest

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with 2 CPUs for one test module; ``tests/`` is on the workers' PYTHONPATH,
    so that the classes and factories the tests define can be imported there, as a user's own
    modules must be importable on every node."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def forget_test_backends():
    """Backends a test registers (``backends.py``) leave the registries when it ends."""
    yield
    import backends

    backends.forget()
