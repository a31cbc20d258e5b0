"""Running the pipeline on the embedded default: Airflow in-process on SQLite (docs/architecture.md#scale)."""
