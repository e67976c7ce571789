"""The job: rollup SQL, its runner on Flink, the loader into ClickHouse, and verify."""
