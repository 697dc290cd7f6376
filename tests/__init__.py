import pytest

# The harness in tests/support asserts for the tests: its failures explain themselves as a
# test's own would.
pytest.register_assert_rewrite("tests.support")
