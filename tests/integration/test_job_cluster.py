"""The same job submitted to a standalone Flink cluster: a JobManager and a TaskManager started as
separate processes by the scripts that ship in the PyFlink package, then `gmv job --cluster`."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyflink
import pytest

from stream.job import runner
from stream.probes import wait_for
from tests.support.stack import command_lines, distinct_free_ports, log_problems, simulate, wait_exact

pytestmark = pytest.mark.slow
FLINK_HOME = Path(pyflink.__file__).parent


def cluster_config(conf_dir: Path, work: Path, rpc: int, rest: int) -> None:
    shutil.copytree(FLINK_HOME / "conf", conf_dir)
    text = (conf_dir / "config.yaml").read_text()
    # Loopback by address, not by name; the TaskManager's own ports are picked by the OS (0), so
    # only the two ports the test must know are chosen here.
    text = text.replace("localhost", "127.0.0.1").replace("port: 6123", f"port: {rpc}")
    text = text.replace("numberOfTaskSlots: 1", "numberOfTaskSlots: 4")
    text = text.replace("size: 1600m", "size: 1024m").replace("size: 1728m", "size: 1536m")
    text += (f"\nrest.port: {rest}\nrest.bind-address: 127.0.0.1\n"
             f"env.pid.dir: {work}\nenv.log.dir: {work / 'log'}\n")
    (conf_dir / "config.yaml").write_text(text)


def rest_get(rest: int, path: str):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{rest}{path}", timeout=5) as resp:
            return json.load(resp)
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}


def registered_slots(rest: int) -> int:
    return sum(tm.get("slotsNumber", 0) for tm in rest_get(rest, "/taskmanagers").get("taskmanagers", []))


def all_tasks_running(rest: int) -> bool:
    """The job is RUNNING and so is every one of its tasks (not merely scheduled or deploying)."""
    jobs = runner.running_jobs("127.0.0.1", rest)
    if not jobs:
        return False
    vertices = rest_get(rest, f"/jobs/{jobs[0]['jid']}").get("vertices", [])
    return bool(vertices) and all(v.get("status") == "RUNNING" for v in vertices)


def diagnosis(rest: int, work: Path, job_log: Path) -> str:
    """What the cluster says about itself: for a failure message from a machine we cannot log in to."""
    lines = [f"taskmanager slots: {registered_slots(rest)}"]
    for entry in rest_get(rest, "/jobs/overview").get("jobs", []):
        detail = rest_get(rest, f"/jobs/{entry['jid']}")
        lines.append(f"job {entry['jid']} {entry.get('state')}: "
                     + ", ".join(f"{v.get('name', '')[:40]}={v.get('status')}" for v in detail.get("vertices", [])))
        counts = rest_get(rest, f"/jobs/{entry['jid']}/checkpoints").get("counts", {})
        lines.append(f"checkpoints: {counts}")
        root = rest_get(rest, f"/jobs/{entry['jid']}/exceptions").get("exceptionHistory", {})
        for failure in root.get("entries", [])[:2]:
            lines.append("exception: " + str(failure.get("stacktrace", ""))[:1500])
    for log in sorted((work / "log").glob("*.log")):
        lines += log_problems(log)
    if job_log.exists():
        lines += [f"--- {job_log.name} ---", *job_log.read_text(errors="replace").splitlines()[-20:]]
    return "\n".join(lines)


def flink_script(name: str, action: str, env: dict) -> None:
    subprocess.run(["bash", str(FLINK_HOME / "bin" / name), action], env=env, check=True,
                   capture_output=True, timeout=120)


def cluster_processes(conf_dir: Path) -> list[str]:
    return [text for text in command_lines() if str(conf_dir) in text and "java" in text]


def test_the_job_on_a_standalone_cluster_is_exact(pipeline_settings, tmp_path):
    rpc, rest = distinct_free_ports(2)
    conf_dir, work = tmp_path / "conf", tmp_path / "cluster"
    (work / "log").mkdir(parents=True)
    cluster_config(conf_dir, work, rpc, rest)
    env = {**os.environ, "FLINK_HOME": str(FLINK_HOME), "FLINK_CONF_DIR": str(conf_dir)}
    settings = pipeline_settings.replace(home=tmp_path / "home")
    job_log = tmp_path / "gmv-job.log"
    gmv_job = None
    try:
        flink_script("jobmanager.sh", "start", env)
        flink_script("taskmanager.sh", "start", env)
        # A TaskManager must have registered its slots, or a submitted job sits RUNNING with no tasks.
        assert wait_for(lambda: registered_slots(rest) >= 1, 120), diagnosis(rest, work, job_log)
        processes = cluster_processes(conf_dir)
        assert any("StandaloneSessionClusterEntrypoint" in p for p in processes)
        assert any("TaskManagerRunner" in p for p in processes)

        with open(job_log, "wb") as job_output:  # the child keeps its own copy of the descriptor
            gmv_job = subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "job", "--cluster", f"127.0.0.1:{rest}"],
                env={**os.environ, **settings.to_env()}, start_new_session=True,
                stdout=job_output, stderr=subprocess.STDOUT,
            )
        assert wait_for(lambda: all_tasks_running(rest), 180), diagnosis(rest, work, job_log)
        ledger = tmp_path / "ledger.jsonl"
        simulate(settings, ledger)
        wait_exact(settings, ledger, diagnose=lambda: diagnosis(rest, work, job_log))
    finally:
        if gmv_job is not None:
            os.killpg(gmv_job.pid, signal.SIGTERM)
            gmv_job.wait(timeout=60)
        flink_script("taskmanager.sh", "stop", env)
        flink_script("jobmanager.sh", "stop", env)
    assert wait_for(lambda: not cluster_processes(conf_dir), 60)
