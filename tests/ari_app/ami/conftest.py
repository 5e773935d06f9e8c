"""The simulator factories of tests/ari_app/simulator, for the AMI client's tests."""

from tests.ari_app.simulator.conftest import make_app, make_sim  # noqa: F401
