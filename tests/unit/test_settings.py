import dataclasses

import pytest

from stream.settings import PROJECT_ROOT, ConfigError, Settings, load, shown_path


def test_defaults_are_the_standard_ports():
    s = load(env={})
    assert (s.kafka_port, s.clickhouse_port, s.clickhouse_http_port, s.dashboard_port) == (9092, 9000, 8123, 8050)
    assert s.kafka_partitions == 4
    assert s.topics[:3] == ("orders", "logistics", "rejected")
    assert "rollup-orders_second" in s.topics
    assert s.jars_dir == s.home / "jars"


def test_env_sets_ports_and_prefix(tmp_path):
    s = load(env={"GMV_KAFKA_PORT": "19092", "GMV_HOME": str(tmp_path), "GMV_TOPIC_PREFIX": "x-"})
    assert s.kafka_port == 19092 and s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.home == tmp_path and s.jars_dir == tmp_path / "jars"
    assert s.orders_topic == "x-orders"


@pytest.mark.parametrize(
    "env, words",
    [
        ({"GMV_KAFKA_PORT": "abc"}, ["GMV_KAFKA_PORT", "whole number"]),
        ({"GMV_CLICKHOUSE_PORT": "70000"}, ["GMV_CLICKHOUSE_PORT", "1-65535"]),
        ({"GMV_DASHBOARD_PORT": "0"}, ["GMV_DASHBOARD_PORT"]),
        ({"GMV_KAFKA_PARTITIONS": "0"}, ["GMV_KAFKA_PARTITIONS", "1-1000"]),
        ({"GMV_CLICKHOUSE_DATABASE": "gmv; DROP"}, ["GMV_CLICKHOUSE_DATABASE", "identifier"]),
        ({"GMV_KAFKA_PROT": "1"}, ["unknown setting GMV_KAFKA_PROT"]),
        ({"GMV_START_TIMEOUT": "-1"}, ["GMV_START_TIMEOUT"]),
    ],
)
def test_bad_values_give_one_line_naming_the_setting(env, words):
    with pytest.raises(ConfigError) as err:
        load(env=env)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_passwords_never_printed():
    s = load(env={"GMV_CLICKHOUSE_WRITER_PASSWORD": "s3cret-w", "GMV_CLICKHOUSE_READER_PASSWORD": "s3cret-r"})
    assert s.writer_password == "s3cret-w"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s)


def test_settings_are_frozen_and_replace_revalidates():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kafka_port = 1  # type: ignore[misc]
    with pytest.raises(ConfigError):
        s.replace(kafka_port=-5)
    moved = s.replace(home=s.home / "elsewhere")
    assert moved.jars_dir == moved.home / "jars"


def test_to_env_round_trips(tmp_path):
    s = load(env={}, home=tmp_path, kafka_port=12345, topic_prefix="p-", writer_password="pw")
    assert load(env=s.to_env()) == s


def test_dashboard_logins_from_the_variable_and_the_file(tmp_path):
    users = tmp_path / "users"
    users.write_text("# wall room\n\nlead:pass,with,commas\n  night:  spaces inside ok  \n")
    s = load(env={"GMV_DASHBOARD_USERS": "ops:correct-horse, dev:pass:with:colons,",
                  "GMV_DASHBOARD_USERS_FILE": str(users), "GMV_DASHBOARD_KIOSK_TOKEN": "t" * 16})
    assert s.dashboard_login_required
    assert s.dashboard_logins() == {"ops": "correct-horse", "dev": "pass:with:colons", "lead": "pass,with,commas",
                                    "night": "spaces inside ok"}
    for secret in ("correct-horse", "pass,with", "t" * 16):
        assert secret not in repr(s)
    assert load(env=s.to_env()) == s
    bare = load(env={})
    assert not bare.dashboard_login_required and bare.dashboard_logins() == {}
    assert load(env=bare.to_env()) == bare and "GMV_DASHBOARD_USERS_FILE" not in bare.to_env()


def test_to_env_leaves_defaults_out_unless_the_environment_sets_them(tmp_path, monkeypatch):
    """A child inherits this process's environment: a variable set there is always passed on (with
    the settings' value); one at its default is left out, so an older checkout accepts the rest."""
    s = load(env={}, home=tmp_path, kafka_port=12345)
    assert set(s.to_env()) == {"GMV_HOME", "GMV_JARS_DIR", "GMV_KAFKA_PORT"}
    monkeypatch.setenv("GMV_KAFKA_BROKERS", "3")
    assert s.to_env()["GMV_KAFKA_BROKERS"] == "1"  # the settings' value wins over the inherited one


@pytest.mark.parametrize(
    "env, words",
    [
        ({"GMV_DASHBOARD_USERS": "ops"}, ["GMV_DASHBOARD_USERS", "entry 1", "name:password"]),
        ({"GMV_DASHBOARD_USERS": "ops:correct-horse,:nameless-pw"}, ["GMV_DASHBOARD_USERS", "entry 2"]),
        ({"GMV_DASHBOARD_USERS": "ops:short"}, ["GMV_DASHBOARD_USERS", "'ops'", "shorter than 8"]),
        ({"GMV_DASHBOARD_USERS": "ops:correct-horse,ops:other-horse"}, ["'ops'", "twice"]),
        ({"GMV_DASHBOARD_USERS": "the ops:correct-horse"}, ["'the ops'", "space"]),
        ({"GMV_DASHBOARD_KIOSK_TOKEN": "short"}, ["GMV_DASHBOARD_KIOSK_TOKEN", "at least 16", "token_urlsafe"]),
        ({"GMV_DASHBOARD_KIOSK_TOKEN": "not a url-safe token!"}, ["GMV_DASHBOARD_KIOSK_TOKEN", "URL-safe"]),
    ],
)
def test_bad_dashboard_credentials_give_one_line_without_the_secret(env, words):
    with pytest.raises(ConfigError) as err:
        load(env=env)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    for secret in ("correct-horse", "other-horse", "nameless-pw", "'short'", "url-safe token"):
        assert secret not in message


def test_a_bad_users_file_is_one_line_when_read(tmp_path):
    missing = load(env={"GMV_DASHBOARD_USERS_FILE": str(tmp_path / "nope")})
    assert missing.dashboard_login_required
    checks = [(missing, ["GMV_DASHBOARD_USERS_FILE", "cannot be read", "No such file"])]
    for text, words in (("# nobody yet\n", ["lists no user"]), ("ops:correct-horse\nbroken\n", ["line 2"]),
                        ("ops:tiny\n", ["'ops'", "shorter than 8"])):
        path = tmp_path / f"users{len(checks)}"
        path.write_text(text)
        checks.append((load(env={"GMV_DASHBOARD_USERS_FILE": str(path)}), ["GMV_DASHBOARD_USERS_FILE", *words]))
    path = tmp_path / "both"
    path.write_text("ops:other-horse\n")
    checks.append((load(env={"GMV_DASHBOARD_USERS_FILE": str(path), "GMV_DASHBOARD_USERS": "ops:correct-horse"}),
                   ["'ops'", "both"]))
    for settings, words in checks:
        with pytest.raises(ConfigError) as err:
            settings.dashboard_logins()
        message = str(err.value)
        assert "\n" not in message and "horse" not in message and "tiny" not in message
        for word in words:
            assert word in message, (message, word)


def test_shown_path_is_relative_inside_the_project_and_whole_outside(tmp_path):
    assert shown_path(PROJECT_ROOT / "infra" / "alerts.toml") == "infra/alerts.toml"
    assert shown_path(tmp_path / "rules.toml") == str(tmp_path / "rules.toml")


def test_replicas_and_zookeeper_nodes_are_checked_and_take_ports_after_the_first():
    from stream.settings import ConfigError, load

    settings = load(env={"GMV_CLICKHOUSE_REPLICAS": "2", "GMV_ZOOKEEPER_NODES": "3"})
    assert settings.replicated and settings.clickhouse_replica_ports(1) == (9001, 8124, 9010)
    assert settings.zookeeper_node_ports(2) == (2187, 2188, 2189)
    assert not load(env={}).replicated
    with pytest.raises(ConfigError, match="GMV_ZOOKEEPER_NODES=2 is not 1, 3 or 5"):
        load(env={"GMV_ZOOKEEPER_NODES": "2"})
    with pytest.raises(ConfigError, match="GMV_CLICKHOUSE_REPLICAS=9 is out of range"):
        load(env={"GMV_CLICKHOUSE_REPLICAS": "9"})


def test_several_clickhouse_hosts_are_a_clusters_replicas():
    from stream.settings import ConfigError, load
    from stream.stack.clickhouse import replica_addresses

    settings = load(env={"GMV_CLICKHOUSE_HOST": "ch-a, ch-b", "GMV_CLICKHOUSE_PORT": "9440"})
    assert settings.replicated and replica_addresses(settings) == [("ch-a", 9440), ("ch-b", 9440)]
    assert replica_addresses(load(env={"GMV_CLICKHOUSE_REPLICAS": "2"})) == [("127.0.0.1", 9000), ("127.0.0.1", 9001)]
    with pytest.raises(ConfigError, match="set one of them"):
        load(env={"GMV_CLICKHOUSE_HOST": "ch-a,ch-b", "GMV_CLICKHOUSE_REPLICAS": "2"})


def test_ha_is_a_second_copy_of_every_stateful_part_and_a_count_beside_it_wins():
    ha = load(env={"GMV_HA": "1"})
    assert (ha.kafka_brokers, ha.clickhouse_replicas, ha.flink_taskmanagers, ha.alerts_standby) == (3, 2, 2, 1)
    assert ha.uses_zookeeper and ha.kafka_replicas == 3 and ha.kafka_min_insync == 2
    assert load(env={"GMV_HA": "1", "GMV_KAFKA_BROKERS": "5"}).kafka_brokers == 5
    plain = load(env={})
    assert (plain.kafka_brokers, plain.clickhouse_replicas, plain.flink_taskmanagers,
            plain.alerts_standby) == (1, 1, 0, 0)
    with pytest.raises(ConfigError, match=r"^GMV_HA='yes' is not a whole number\.$"):
        load(env={"GMV_HA": "yes"})
    with pytest.raises(ConfigError, match=r"^GMV_HA=2 is not 0 or 1\.$"):
        load(env={"GMV_HA": "2"})


def test_the_ha_shape_lists_every_part_with_its_second_copy():
    from stream import registry

    names = list(registry.parts(load(env={"GMV_HA": "1"})))
    assert names == ["kafka", "kafka-2", "kafka-3", "zookeeper", "clickhouse", "clickhouse-2", "flink-jobmanager",
                     "flink-taskmanager", "flink-taskmanager-2", "job", "simulator", "dashboard", "alerts", "alerts-2"]
    assert list(registry.parts(load(env={}))) == ["kafka", "clickhouse", "job", "simulator", "dashboard", "alerts"]
