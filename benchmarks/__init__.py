"""Benchmarks for tuimatrix on a synthetic large account (issue 7).

``python -m benchmarks`` runs every measurement and writes ``benchmarks/RESULTS.md``; each
``benchmarks/<name>.py`` also runs on its own. The synthetic account comes from
:mod:`benchmarks.generator`: valid ``/sync`` responses, deterministic from a seed, fed through
our real ``apply_sync`` to build stores. Nothing here is a test: timings are reported, never
asserted.
"""

from __future__ import annotations
