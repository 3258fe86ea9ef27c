"""Browser and process tests. A package so that its test modules do not collide with tests/ ones of the same
name (tests/test_simulate.py and e2e/test_simulate.py, tests/test_challenge.py and e2e/test_challenge.py)."""
