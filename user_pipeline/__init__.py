"""Everything of the pipeline that is not a job, a step, a gate or lineage: the configuration,
model training, label tooling, reports, orchestration helpers and the sample-data generator
(one distinctively named package, so installing the project adds no generic top-level names)."""
