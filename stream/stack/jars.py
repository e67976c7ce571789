"""Fetch the Java jars the stack needs from Maven Central with Maven, cached in the state folder.

Each set of jars is described by a pom under ``infra/maven/<name>/``; the copy is
redone only when that pom changes (its hash is stamped beside the jars). The ``udf`` set
is the job's own Java function, built from ``stream/job/java`` with ``mvn package`` and
rebuilt when its pom or sources change.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from stream.errors import GmvError
from stream.settings import INFRA_DIR, PROJECT_ROOT, Settings

JAR_SETS = ("kafka", "kafka-tools", "flink", "zookeeper", "udf")
UDF_PROJECT = PROJECT_ROOT / "stream" / "job" / "java"


def jar_dir(settings: Settings, name: str) -> Path:
    assert settings.jars_dir is not None
    return settings.jars_dir / name


def _pom(name: str) -> Path:
    return UDF_PROJECT / "pom.xml" if name == "udf" else INFRA_DIR / "maven" / name / "pom.xml"


def _stamp(name: str) -> str:
    digest = hashlib.sha256(_pom(name).read_bytes())
    if name == "udf":
        for source in sorted((UDF_PROJECT / "src").rglob("*.java")):
            digest.update(source.read_bytes())
    return digest.hexdigest()


def _maven_command(mvn: str, name: str, dest: Path) -> list[str]:
    if name == "udf":  # compile and package; the build folder lives beside the jar, outside the repo
        return [mvn, "-q", "-B", "-f", str(_pom(name)), "package", f"-Dgmv.build.dir={dest / 'build'}"]
    return [mvn, "-q", "-B", "-f", str(_pom(name)), "dependency:copy-dependencies",
            f"-DoutputDirectory={dest}", "-DincludeScope=runtime"]


def present(settings: Settings, name: str) -> bool:
    stamp = jar_dir(settings, name) / ".pom-sha256"
    return stamp.exists() and stamp.read_text() == _stamp(name)


def _doing(name: str) -> str:
    if name == "udf":
        return "building the job's Java function (udf) with Maven..."
    return f"fetching {name} jars with Maven..."


def ensure(settings: Settings, names: tuple[str, ...] = JAR_SETS,
           echo: Callable[[str], None] = lambda line: None) -> None:
    """Copy each jar set's runtime dependencies into ``$GMV_JARS_DIR/<name>`` unless current.

    ``echo`` is told what each set needs: "kafka jars: up to date", or "fetching kafka jars
    with Maven..." before and "kafka jars: N in DIR" after (a first fetch takes minutes).
    """
    for name in names:
        if present(settings, name):
            echo(f"{name} jars: up to date")
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
        echo(_doing(name))
        result = subprocess.run(_maven_command(mvn, name, dest), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
            raise GmvError(f"building the {name} jars with Maven failed: {(errors or ['no output'])[0].strip()}")
        if name == "udf":
            for jar in (dest / "build").glob("*.jar"):
                shutil.move(str(jar), dest / jar.name)
            shutil.rmtree(dest / "build")
        (dest / ".pom-sha256").write_text(_stamp(name))
        echo(f"{name} jars: {len(list(dest.glob('*.jar')))} in {dest}")


def classpath(settings: Settings, name: str) -> list[Path]:
    """The jars of one set; raises if they were never fetched."""
    if not present(settings, name):
        raise GmvError(f"the {name} jars are missing from {jar_dir(settings, name)}; run `make setup`.")
    return sorted(jar_dir(settings, name).glob("*.jar"))
