"""pghistory benchmarks: tracked vs untracked writes, row vs statement level, with targets.

Layer: benchmarks (not shipped with the library, never assertions in the test suite). Run
``python -m benchmarks``, ``python benchmarks/run.py`` or ``pghistory bench``; see
:mod:`benchmarks.run`. Modules:

- :mod:`benchmarks.workloads`: the benchmark table, the variants and one measurement;
- :mod:`benchmarks.pairing`: experimental statement-level UPDATE functions (other ways to pair
  old and new rows), measured next to the generated one;
- :mod:`benchmarks.report`: ``results.json``, ``report.md``, PNG plots and the targets;
- :mod:`benchmarks.orm`: peers and this project's ORM adapters, one runner subprocess each;
- :mod:`benchmarks.peers`: the runners (one per library) and their shared harness;
- :mod:`benchmarks.run`: modes, the interleaved schedule, progress and the command line.
"""
