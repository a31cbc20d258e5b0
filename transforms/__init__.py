"""Pure, framework-free step logic (docs/architecture.md#layers): no Beam or Airflow imports here."""
