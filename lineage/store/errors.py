"""The lineage store's exceptions."""


class LineageUsageError(ValueError):
    """A bad argument or setting (a store URL that cannot work, a time that is not a time)."""


class MalformedEvent(ValueError):
    """A line or object that is not a usable OpenLineage RunEvent."""
