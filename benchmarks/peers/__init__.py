"""ORM runners: peer libraries and this project's adapters on the benchmark table.

Layer: benchmarks. Each ``run_*`` module measures one library through its ORM paths and
prints one JSON document (:mod:`benchmarks.peers.harness`); :mod:`benchmarks.orm` starts
them, peers in their own venv (``--peers-python``), this project's adapters in the suite's
interpreter. Also the Django app (label ``peers``) of the Django runners' models.
"""
