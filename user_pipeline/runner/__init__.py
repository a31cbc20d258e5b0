"""Running the pipeline on the embedded default: Airflow in-process on SQLite (DESIGN §7)."""
