"""A job's logging (user_pipeline.steps.logs): third-party INFO is silenced where it starts, a
warning from the job or a library still shows, and no record is printed twice. Each case runs in
its own process, as a job does (logging set up once, at its start)."""

import os
import subprocess
import sys
import textwrap

import pytest


def _job(script: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env={**environ, **env},
                          capture_output=True, text=True, timeout=120, check=True)


def test_library_info_is_silenced_and_warnings_still_show():
    done = _job("""
        import logging, os
        from user_pipeline.steps.logs import configure_job_logging

        configure_job_logging()
        logging.getLogger("apache_beam.io.filebasedsink").info("Renamed 1 shards in 0.00 seconds.")
        logging.getLogger("matplotlib.category").info("Using categorical units to plot a list of strings")
        logging.getLogger("absl").info("Feature age has no shape. Setting to varlen_sparse_tensor.")
        logging.getLogger("openlineage.client.client").info("OpenLineageClient will use `file` transport")
        logging.getLogger("beam_jobs.clean").info("cleaned 10 rows")
        logging.getLogger("beam_jobs.clean").warning("3 rows had no country")
        logging.getLogger("apache_beam.runners").warning("a worker was slow")
        logging.getLogger("matplotlib.font_manager").error("no font found")
        print(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    """)
    lines = done.stderr.splitlines()
    for noise in ("Renamed 1 shards", "categorical units", "has no shape", "will use `file` transport"):
        assert not [line for line in lines if noise in line], noise
    for shown, level in (("cleaned 10 rows", "INFO"), ("3 rows had no country", "WARNING"),
                         ("a worker was slow", "WARNING"), ("no font found", "ERROR")):
        assert len([line for line in lines if shown in line and f" {level} " in line]) == 1, shown
    assert done.stdout.strip() == "2"  # TensorFlow's C++ runtime: errors only


def test_a_tf_cpp_log_level_already_set_is_kept():
    done = _job("""
        import os
        from user_pipeline.steps.logs import configure_job_logging

        configure_job_logging()
        print(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    """, TF_CPP_MIN_LOG_LEVEL="0")
    assert done.stdout.strip() == "0"


@pytest.mark.tf
def test_tensorflow_imported_first_prints_each_record_once():
    """A job module that imports TensorFlow at the top: TensorFlow's logger got a handler of its own."""
    done = _job("""
        import tensorflow as tf
        from user_pipeline.steps.logs import configure_job_logging

        tf.get_logger()
        configure_job_logging()
        tf.get_logger().info("Assets written to: /somewhere")
        tf.get_logger().warning("a real TensorFlow warning")
    """)
    assert "Assets written" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "a real TensorFlow warning" in line] == [
        line for line in done.stderr.splitlines() if line.endswith("WARNING tensorflow: a real TensorFlow warning")]
    assert done.stderr.count("a real TensorFlow warning") == 1
