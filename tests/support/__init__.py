"""Helpers shared by the tests: what more than one test module needs lives here, never in a test
module (no test module imports another). Payloads copied from the senders' documentation are in
tests/support/payloads/; fixtures are in the conftest.py files."""
