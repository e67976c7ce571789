"""The local stack: launcher, process supervision, jars, Kafka admin, migrations, ClickHouse."""
