"""Fetch the Java jars the stack needs from Maven Central with Maven, cached in the state folder.

Each set of jars is described by a pom under ``infra/maven/<name>/``; the copy is
redone only when that pom changes (its hash is stamped beside the jars).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from stream.errors import GmvError
from stream.settings import INFRA_DIR, Settings

JAR_SETS = ("kafka", "flink")


def jar_dir(settings: Settings, name: str) -> Path:
    assert settings.jars_dir is not None
    return settings.jars_dir / name


def _pom(name: str) -> Path:
    return INFRA_DIR / "maven" / name / "pom.xml"


def _stamp(name: str) -> str:
    return hashlib.sha256(_pom(name).read_bytes()).hexdigest()


def present(settings: Settings, name: str) -> bool:
    stamp = jar_dir(settings, name) / ".pom-sha256"
    return stamp.exists() and stamp.read_text() == _stamp(name)


def ensure(settings: Settings, names: tuple[str, ...] = JAR_SETS) -> None:
    """Copy each jar set's runtime dependencies into ``$GMV_JARS_DIR/<name>`` unless current."""
    for name in names:
        if present(settings, name):
            continue
        mvn = shutil.which("mvn")
        if mvn is None:
            raise GmvError(
                "mvn (Maven) is not on PATH; install it (apt-get install maven) so the Kafka and "
                "Flink jars can be fetched from Maven Central."
            )
        dest = jar_dir(settings, name)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(_pom(name)), "dependency:copy-dependencies",
            f"-DoutputDirectory={dest}", "-DincludeScope=runtime",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
            raise GmvError(f"fetching the {name} jars with Maven failed: {last[0]}")
        (dest / ".pom-sha256").write_text(_stamp(name))


def classpath(settings: Settings, name: str) -> list[Path]:
    """The jars of one set; raises if they were never fetched."""
    if not present(settings, name):
        raise GmvError(f"the {name} jars are missing from {jar_dir(settings, name)}; run `make setup`.")
    return sorted(jar_dir(settings, name).glob("*.jar"))
