"""One module per Beam job (``python -m beam_jobs.<job>``): wiring and I/O only (docs/architecture.md#layers)."""
