"""HTML reports for people, rendered from machine-readable results (no network at view time)."""
