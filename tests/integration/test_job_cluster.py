"""The same job submitted to a standalone Flink cluster: a JobManager and a TaskManager started as
separate processes by the scripts that ship in the PyFlink package, then `gmv job --cluster`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from stream.probes import wait_for
from tests.support.flink_cluster import all_tasks_running, cluster_processes, diagnosis, standalone_cluster
from tests.support.stack import simulate, wait_exact

pytestmark = pytest.mark.slow


def test_the_job_on_a_standalone_cluster_is_exact(pipeline_settings, tmp_path):
    settings = pipeline_settings.replace(home=tmp_path / "home")
    job_log = tmp_path / "gmv-job.log"
    work = tmp_path / "flink"
    with standalone_cluster(work) as (rest, _env):
        processes = cluster_processes(work / "conf")
        assert any("StandaloneSessionClusterEntrypoint" in p for p in processes)
        assert any("TaskManagerRunner" in p for p in processes)
        gmv_job = None
        try:
            with open(job_log, "wb") as job_output:  # the child keeps its own copy of the descriptor
                gmv_job = subprocess.Popen(
                    [sys.executable, "-m", "stream.cli", "job", "--cluster", f"127.0.0.1:{rest}"],
                    env={**os.environ, **settings.to_env()}, start_new_session=True,
                    stdout=job_output, stderr=subprocess.STDOUT,
                )
            assert wait_for(lambda: all_tasks_running(rest), 180), diagnosis(rest, work / "cluster", job_log)
            ledger = tmp_path / "ledger.jsonl"
            simulate(settings, ledger)
            wait_exact(settings, ledger, diagnose=lambda: diagnosis(rest, work / "cluster", job_log))
        finally:
            if gmv_job is not None:
                os.killpg(gmv_job.pid, signal.SIGTERM)
                gmv_job.wait(timeout=60)
    assert not cluster_processes(work / "conf")
