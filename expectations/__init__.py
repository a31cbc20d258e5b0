"""Great Expectations gates between the pipeline's steps (docs/architecture.md#gates).

- ``suites``: one suite per gated dataset, as code (``checks`` builds its GX 1.x expectations,
  each with a severity and a stable name that ``gates.overrides`` in the config can tune).
- ``gate``: ``python -m expectations.gate --dataset D --ds YYYY-MM-DD`` (or ``--version V``) and
  ``validate_partition(cfg, dataset, value)``; a failed critical check exits 1.
- ``validate``: runs a suite on an Arrow table in an ephemeral GX context (pandas).
- ``results``, ``store``, ``report``: the result, its JSON next to the partition
  (``_gates/<version>.json``) and its HTML page (``<data root>/reports/gates/...``).
- ``facets``: the result as OpenLineage ``dataQualityAssertions`` / ``dataQualityMetrics``
  facets on the input of the gate's own run.
- ``bench``: the gates on 1M-row partitions.
"""
