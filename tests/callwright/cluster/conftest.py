"""The store factories of tests/callwright/store, for the cluster tests."""

from tests.callwright.store.conftest import make_db  # noqa: F401 (a fixture, used by name)
