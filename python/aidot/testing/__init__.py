"""Testing your own models with aidot: a pytest plugin and the helpers behind it.

Installed with aidot and registered through pytest's ``pytest11`` entry point, the plugin
gives every test suite three fixtures:

- ``aidot_workspace``: a fresh embedded workspace (SQLite file + blob folder) in the test's
  temporary folder, closed afterwards;
- ``aidot_serve``: ``aidot_serve(model, signature=..., name=..., max_batch_size=...)`` serves a
  model object (or a ``models:/`` URI of ``aidot_workspace``) with the Rust HTTP server on
  loopback and returns a :class:`ServedModel`; every server is stopped after the test;
- ``aidot_load``: :func:`drive_load`, to send concurrent requests and read latency
  percentiles and throughput, for example inside a pytest-benchmark run::

    def test_my_model_keeps_up(aidot_serve, aidot_load):
        served = aidot_serve(MyModel(), signature={"inputs": [
            {"name": "x", "dtype": "<f4", "shape": [-1, 32]}]})
        report = aidot_load(served, rows=np.random.rand(100, 32), requests=2_000)
        assert report.errors == 0
        assert report.p99_ms < 50

The helpers work without pytest too.
"""

from __future__ import annotations

from aidot.testing._load import LoadReport, drive_load
from aidot.testing._served import ServedModel, serve_model

__all__ = ["LoadReport", "ServedModel", "drive_load", "serve_model"]
