"""docker-compose.yml is for users with Docker; here it is checked by parsing, not running."""

import yaml

from stream.settings import PROJECT_ROOT, Settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
DEFAULTS = Settings()


def _published(service: str) -> set[int]:
    ports = COMPOSE["services"][service].get("ports", [])
    return {int(str(p).split(":")[-2] if str(p).count(":") >= 1 else p) for p in ports}


def _target(service: str) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in COMPOSE["services"][service].get("ports", [])}


def test_every_service_has_an_image_or_a_build():
    for name, service in COMPOSE["services"].items():
        assert "image" in service or "build" in service, name


def test_the_parts_are_all_there():
    wanted = {"kafka", "clickhouse", "jobmanager", "taskmanager", "simulator", "job", "alerts", "dashboard"}
    assert wanted <= set(COMPOSE["services"])


def test_ports_match_the_defaults():
    assert DEFAULTS.kafka_port in _published("kafka")
    assert {DEFAULTS.clickhouse_port, DEFAULTS.clickhouse_http_port} <= _published("clickhouse")
    assert {DEFAULTS.clickhouse_port, DEFAULTS.clickhouse_http_port} <= _target("clickhouse")
    assert DEFAULTS.dashboard_port in _published("dashboard")
    assert DEFAULTS.flink_port in _published("jobmanager")


def test_the_project_services_build_from_the_dockerfile():
    for name in ("simulator", "job", "alerts", "dashboard"):
        build = COMPOSE["services"][name]["build"]
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        assert (PROJECT_ROOT / dockerfile).exists()


def test_official_images_are_pinned():
    images = [COMPOSE["services"][name]["image"] for name in ("kafka", "clickhouse")]
    flink = (PROJECT_ROOT / COMPOSE["services"]["jobmanager"]["build"]["dockerfile"]).read_text()
    images.append(flink.split("FROM ", 1)[1].split()[0])
    for image in images:
        assert ":" in image and not image.endswith(":latest"), image
    assert "flink:2.0.2" in images[-1]  # the cluster runs the same Flink as the installed PyFlink
