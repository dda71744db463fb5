# These case files are run by tests/test_cases.py (one parametrised test over
# every case file); the guardrails pytest plugin must not collect them twice.
collect_ignore_glob = ["*.tests.yaml"]
