"""A real Airflow 3 deployment of the project on loopback (docs/architecture.md#scale, README "Deployment").

    python -m user_pipeline.deploy up [--executor local|celery] [--metadata-db URL] [--run-days N]
    python -m user_pipeline.deploy run [--days N | --dates D ...]
    python -m user_pipeline.deploy status | down

``deployment`` starts and stops the services (Airflow's api-server, scheduler, dag-processor and
triggerer, Celery workers and their Redis broker, ``lineage serve``), ``airflow_api`` drives runs
through Airflow's REST API, ``hostname`` names a Celery worker in its task instances.
"""
