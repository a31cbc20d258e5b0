"""Pure, framework-free step logic (DESIGN §2): no Beam or Airflow imports here."""
