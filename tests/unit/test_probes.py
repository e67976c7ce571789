"""free_port: ports a server can bind later, outside the range outgoing connections draw from."""
import socket

from stream import probes


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    low, _ = probes._ephemeral_range()
    ports = [probes.free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(probes.LOWEST_PORT <= p < low for p in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))  # nothing holds it


def test_a_taken_port_or_one_handed_out_before_is_skipped(monkeypatch):
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        free = spare.getsockname()[1]
    handed_out = probes.free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        draws = iter([taken.getsockname()[1], handed_out, free])
        monkeypatch.setattr(probes.random, "randrange", lambda lo, hi: next(draws))
        assert probes.free_port() == free
