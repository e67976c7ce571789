"""The same job submitted to a standalone Flink cluster: a JobManager and a TaskManager started as
separate processes by the scripts that ship in the PyFlink package, then `gmv job --cluster`."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyflink
import pytest
from stack_support import command_lines, distinct_free_ports, simulate, wait_exact

from stream import job
from stream.services import port_answers, wait_for

pytestmark = pytest.mark.slow
FLINK_HOME = Path(pyflink.__file__).parent


def cluster_config(conf_dir: Path, work: Path, rpc: int, rest: int, blob: int, tm_rpc: int) -> None:
    shutil.copytree(FLINK_HOME / "conf", conf_dir)
    text = (conf_dir / "config.yaml").read_text()
    text = text.replace("port: 6123", f"port: {rpc}").replace("numberOfTaskSlots: 1", "numberOfTaskSlots: 4")
    text = text.replace("size: 1600m", "size: 1024m").replace("size: 1728m", "size: 1536m")
    text += (f"\nrest.port: {rest}\nrest.bind-address: 127.0.0.1\nblob.server.port: {blob}\n"
             f"taskmanager.rpc.port: {tm_rpc}\nenv.pid.dir: {work}\nenv.log.dir: {work / 'log'}\n")
    (conf_dir / "config.yaml").write_text(text)


def flink_script(name: str, action: str, env: dict) -> None:
    subprocess.run(["bash", str(FLINK_HOME / "bin" / name), action], env=env, check=True,
                   capture_output=True, timeout=120)


def cluster_processes(conf_dir: Path) -> list[str]:
    return [text for text in command_lines() if str(conf_dir) in text and "java" in text]


def test_the_job_on_a_standalone_cluster_is_exact(pipeline_settings, tmp_path):
    rpc, rest, blob, tm_rpc = distinct_free_ports(4)
    conf_dir, work = tmp_path / "conf", tmp_path / "cluster"
    (work / "log").mkdir(parents=True)
    cluster_config(conf_dir, work, rpc, rest, blob, tm_rpc)
    env = {**os.environ, "FLINK_HOME": str(FLINK_HOME), "FLINK_CONF_DIR": str(conf_dir)}
    settings = pipeline_settings.replace(home=tmp_path / "home")
    gmv_job = None
    try:
        flink_script("jobmanager.sh", "start", env)
        flink_script("taskmanager.sh", "start", env)
        assert wait_for(lambda: port_answers(rest), 120)
        processes = cluster_processes(conf_dir)
        assert any("StandaloneSessionClusterEntrypoint" in p for p in processes)
        assert any("TaskManagerRunner" in p for p in processes)

        gmv_job = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "job", "--cluster", f"127.0.0.1:{rest}"],
            env={**os.environ, **settings.to_env()}, start_new_session=True,
            stdout=open(tmp_path / "gmv-job.log", "wb"), stderr=subprocess.STDOUT,
        )
        assert wait_for(lambda: bool(job.running_jobs("127.0.0.1", rest)), 120), \
            (tmp_path / "gmv-job.log").read_text()[-3000:]
        ledger = tmp_path / "ledger.jsonl"
        simulate(settings, ledger)
        wait_exact(settings, ledger)
    finally:
        if gmv_job is not None:
            os.killpg(gmv_job.pid, signal.SIGTERM)
            gmv_job.wait(timeout=60)
        flink_script("taskmanager.sh", "stop", env)
        flink_script("jobmanager.sh", "stop", env)
    assert wait_for(lambda: not cluster_processes(conf_dir), 60)
