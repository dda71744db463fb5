"""The cost round's shortcuts give what the slow way gives (issue 13).

Speed itself is measured by ``benchmarks/`` and ``scripts/injection_cost.py``;
these tests only pin that a remembered answer is the one computed afresh.
"""

from __future__ import annotations

import importlib

_NORM = importlib.import_module("guardrails.detectors.normalize")


def test_a_remembered_leet_run_depends_on_both_neighbours() -> None:
    # The same run "!" converts before a letter and not before a space, in either
    # order: the memory is keyed by the run and both neighbours' letterhood.
    for _ in range(2):
        assert _NORM.normalize("wow! x").text == "wow! x"
        assert _NORM.normalize("wow!x").text == "wowix"
        assert _NORM.normalize("h3llo 3 x").text == "hello 3 x"
        assert _NORM.normalize("x 4 h3").text == "x 4 he"


def test_remembered_leet_runs_equal_the_sweeps() -> None:
    runs = ["!", "1", "13", "0!", "!0", "4$5", "@!", "7!3"]
    for run in runs:
        for left in (False, True):
            for right in (False, True):
                fresh = _NORM._convert_leet_run(run, left, right)
                text = ("a" if left else " ") + run + ("b" if right else " ")
                for _ in range(2):  # computed, then remembered
                    got = _NORM._leet_replacement(text, 1, 1 + len(run))
                    assert got == (None if fresh == run else fresh), (run, left, right)
