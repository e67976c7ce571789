from stream.stack.clickhouse import ReplicaState


def test_a_replica_line_says_read_only_lagging_or_in_sync():
    assert ReplicaState(17, 0, 0, 0).text() == "in sync, lag 0 s, queue 0 (17 tables)"
    assert ReplicaState(17, 0, 3, 5).text().startswith("catching up, lag 3 s, queue 5")
    assert ReplicaState(17, 17, 0, 0).text().startswith("READ-ONLY 17 of 17 tables")
    assert ReplicaState(0, 0, 0, 0).text() == "no replicated tables"
