"""How many runs per arm a study makes, following from the test in analysis.stats.

The test is a t over run-level values (paired by ABBA block, or Welch's). With 10 % run-to-run
drift its power to detect a change of the arms' geometric means is pinned by
tests/unit/test_stats_simulation.py and printed by `python -m analysis.sensitivity` (README
"Sensitivity"); these counts are the ones it measures.
"""
MIN_RUNS = 3  # per arm: fewer leaves Welch's t with about one degree of freedom
QUICK_REPEATS = 4  # `--quick` (8 s runs): detects a +50 % p95 at 10 % drift in 7 studies out of 10
DEFAULT_REPEATS = 6  # a plain study (60 s runs): detects a +30 % p95 at 10 % drift in 8 studies out of 10
