"""One command for every side-by-side benchmark: ``python -m benches.compare`` (or
``make compare``) installs the peers into their own environment, reruns the benchmarks that
compare aidot with them, and writes ``docs/comparison.md`` with the results, the machine they
ran on and PNG charts under ``docs/comparison/``."""
