"""Top frames of a Java Flight Recorder file of the job's JVM: where the Flink task threads spend
their CPU. bench/bench_job.py records one with ``--profile`` (JFR is built into the JDK: no
agent to download); this reads it with the JDK's own ``jfr`` tool.

    .venv/bin/python bench/jfr_top.py RECORDING.jfr [--top 15]

Only samples of Flink's task threads count (their names list the chained operators, such as
``Source: orders_raw[1] -> Calc[2]`` or ``GlobalGroupAggregate[44] -> ...``), so the
embedded cluster's start-up and the Python side are left out.
"""
from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
from pathlib import Path

_TASK_MARKS = ("->", "Source:", "Aggregate", "Deduplicate", "Sink", "Writer")


def _frame(frame: dict) -> str:
    method = frame["method"]
    return f"{method['type']['name'].rsplit('/', 1)[-1]}.{method['name']}"


def summarize(recording: Path, top: int = 15) -> dict:
    """Share of task-thread samples per thread (operator chain), per top frame (self time), and
    per frame anywhere on the stack (inclusive)."""
    jfr = shutil.which("jfr") or "jfr"
    text = subprocess.run([jfr, "print", "--json", "--stack-depth", "96", "--events", "jdk.ExecutionSample",
                           str(recording)], capture_output=True, text=True, check=True).stdout
    samples = []
    for event in json.loads(text)["recording"]["events"]:
        thread = ((event["values"].get("sampledThread") or {}).get("javaName") or "").split(" (")[0]
        stack = event["values"].get("stackTrace")
        if stack and stack["frames"] and any(mark in thread for mark in _TASK_MARKS):
            samples.append((thread, [_frame(f) for f in stack["frames"]]))
    n = len(samples) or 1
    threads = collections.Counter(t for t, _ in samples)
    own = collections.Counter(frames[0] for _, frames in samples)
    inclusive = collections.Counter(f for _, frames in samples for f in set(frames))
    return {
        "samples": len(samples),
        "threads": [(t[:70], c / n) for t, c in threads.most_common(8)],
        "self": [(f, c / n) for f, c in own.most_common(top)],
        "inclusive": [(f, c / n) for f, c in inclusive.most_common(top * 6)
                      if any(k in f for k in ("processElement", "eval", "Aggregate", "Dedup", "Kafka", "serialize",
                                              "RocksDB", "finishBundle", "Json"))][:top],
    }


def lines(summary: dict) -> list[str]:
    out = [f"{summary['samples']:,} samples of the task threads"]
    for title, key in (("threads (operator chains)", "threads"), ("self", "self"), ("inclusive", "inclusive")):
        out.append(f"  {title}:")
        out += [f"    {share:6.1%}  {name}" for name, share in summary[key]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print("\n".join(lines(summarize(args.recording, args.top))))


if __name__ == "__main__":
    main()
