"""A standalone Flink cluster (a JobManager and a TaskManager, started as separate processes by
the scripts that ship in the PyFlink package), for bench/bench_job.py's cluster measurements."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyflink

from stream.job import runner
from stream.probes import wait_for
from tests.support.stack import command_lines, distinct_free_ports, log_problems

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



@contextlib.contextmanager
def standalone_cluster(work: Path) -> Iterator[tuple[int, dict]]:
    """Start a JobManager and a TaskManager under ``work``; yield (REST port, the scripts' env),
    and stop both afterwards (waiting until their processes are gone)."""
    rpc, rest = distinct_free_ports(2)
    conf_dir = work / "conf"
    (work / "cluster" / "log").mkdir(parents=True)
    cluster_config(conf_dir, work / "cluster", rpc, rest)
    env = {**os.environ, "FLINK_HOME": str(FLINK_HOME), "FLINK_CONF_DIR": str(conf_dir)}
    try:
        flink_script("jobmanager.sh", "start", env)
        flink_script("taskmanager.sh", "start", env)
        # A TaskManager must have registered its slots, or a submitted job sits RUNNING with no tasks.
        if not wait_for(lambda: registered_slots(rest) >= 1, 120):
            raise RuntimeError("no TaskManager registered:\n" + diagnosis(rest, work / "cluster", work / "none"))
        yield rest, env
    finally:
        flink_script("taskmanager.sh", "stop", env)
        flink_script("jobmanager.sh", "stop", env)
        wait_for(lambda: not cluster_processes(conf_dir), 60)
