"""How a job process logs: one line per record, in a format whose level the launcher reads
(``user_pipeline.runner.launch``), with third-party chatter silenced where it starts.

Silencing is by level, at the source: a library's warnings and errors still reach the user and the
Airflow task log; only its INFO (and below) about itself, not about the data, is dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

# The launcher parses "<date> <time> <LEVEL> <logger>: <message>" (LOG_LINE in launch.py).
JOB_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries whose INFO is about themselves: Beam's type-hint conversions, shard renames and state
# cache, matplotlib's categorical units, TFT's feature-shape notes (through absl), TensorFlow's
# "assets written" and optional-package notes, the OpenLineage client's choice of transport.
NOISY_LOGGERS = ("apache_beam", "matplotlib", "absl", "tensorflow", "openlineage")

# Read by TensorFlow's C++ runtime when it loads: "2" keeps its errors and drops INFO and warnings
# such as cpu_feature_guard's list of instructions it was not built for.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def quiet_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the defaults of QUIET_ENV added (a value already set wins)."""
    return {**QUIET_ENV, **environ}


def configure_job_logging(level: int = logging.INFO) -> None:
    """Set up logging of a job process: the root logger at ``level`` on stderr in JOB_LOG_FORMAT,
    the NOISY_LOGGERS at WARNING (or ``level`` if higher), TensorFlow's C++ logging quiet."""
    for name, value in QUIET_ENV.items():
        # Takes effect for a TensorFlow imported after this (a job that imports it lazily); the
        # launcher also sets it in the child's environment for modules that import it at the top.
        os.environ.setdefault(name, value)
    logging.basicConfig(level=level, format=JOB_LOG_FORMAT)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # TensorFlow gives its logger a handler of its own when it is imported before the root logger
    # has one (a job module importing it at the top): each of its records was printed twice, once
    # by that handler ("INFO:tensorflow:...") and once by the root's. The root's is enough.
    tf_logger = logging.Logger.manager.loggerDict.get("tensorflow")
    if isinstance(tf_logger, logging.Logger):
        for handler in list(tf_logger.handlers):
            tf_logger.removeHandler(handler)
