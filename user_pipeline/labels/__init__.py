"""Label tooling for ``reference.spam_labels``: labeler agreement, label-noise detection and
reviewed fixes, and the data-centric experiment (``python -m labels.<tool>``).

The logic is in ``transforms.labels`` (pure functions); these modules are the command lines:
they read and commit through the catalog, emit lineage, and write reports for people under
``<data_root>/reports/labels/``.
"""
