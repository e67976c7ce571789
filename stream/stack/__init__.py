"""The local stack's infrastructure only: the servers (Kafka, ClickHouse), process supervision,
jars, Kafka admin, migrations, ClickHouse connections. Nothing here imports the application
(``stream.job``, ``stream.alerts``, ``dashboard``): :mod:`stream.registry` lists the parts."""
