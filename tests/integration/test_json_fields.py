"""JSON_FIELDS (stream/job/java) must return exactly what JSON_VALUE returns, field by field, for
valid events and for every kind of malformed message, so the job's checks keep their meaning."""
from __future__ import annotations

import pytest

from stream.job import rollup_sql
from stream.stack import jars

pytestmark = pytest.mark.slow

FIELDS = ("event_id", "event_time", "paid_fen", "vip", "items", "nested", "listed")
MESSAGES = [
    '{"event_id":"e1","event_time":1636560000123,"paid_fen":1999,"vip":false,"items":2}',
    '{"event_id":"e2","event_time":"1636560000123","paid_fen":19.50,"vip":"true","items":-1}',
    '{"event_id":"e3","event_time":1.6e12,"paid_fen":null,"vip":true,"nested":{"a":1},"listed":[1,2]}',
    '{"event_id":"\\u5929\\u732b","event_time":0,"paid_fen":0}',
    '{"event_id":"e5"} trailing',
    '{"event_id":"e6",',
    '[{"event_id":"e7"}]',
    '"just a string"',
    '',
    'not json at all',
    '{"heartbeat":true,"event_time":1636560000000}',
    '{"event_id":"dup","event_id":"dup2"}',
    '{"nested":{"event_id":"inner","listed":[{"vip":true}]},"event_id":"outer"}',
    '{"listed":[1,[2,{"items":3}]],"vip":null , "items" : 4 }',
    '{"event_id":"e15","event_id":{"a":1}}',
    '{"event_id":"e16"}{"event_id":"second object"}',
    '{"event_id":"e17" "vip":true}',
    '{"paid_fen":-0.0,"items":12345678901234567890123,"event_time":1E2}',
]


def test_json_fields_equals_json_value_for_every_field(stack_settings):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = Configuration()
    config.set_string("pipeline.jars", ";".join(p.resolve().as_uri() for p in jars.classpath(stack_settings, "udf")))
    config.set_string("parallelism.default", "1")
    t_env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_batch_mode().with_configuration(config).build())
    t_env.execute_sql(rollup_sql.JSON_FIELDS_FUNCTION)
    values = ", ".join("({}, '{}')".format(i, m.replace("'", "''")) for i, m in enumerate(MESSAGES))
    names = ", ".join(f"'{f}'" for f in FIELDS)
    by_value = ", ".join(f"JSON_VALUE(msg, '$.{f}')" for f in FIELDS)
    by_fields = ", ".join(f"v[{i}]" for i in range(1, len(FIELDS) + 1))
    query = (f"SELECT id, {by_value}, {by_fields} FROM (SELECT id, msg, JSON_FIELDS(msg, {names}) AS v "
             f"FROM (VALUES {values}) AS t(id, msg))")
    with t_env.execute_sql(query).collect() as results:
        got = sorted(tuple(row) for row in results)
    assert len(got) == len(MESSAGES)
    n = len(FIELDS)
    mismatches = [(MESSAGES[row[0]], FIELDS[i], row[1 + i], row[1 + n + i])
                  for row in got for i in range(n) if row[1 + i] != row[1 + n + i]]
    assert not mismatches, mismatches


# JSON_FIELDS' last element: one letter per field asked (FIELDS), its JSON type
TYPES = {
    0: "snnbn--",  # e1: event_id, event_time, paid_fen, vip, items; no nested, no listed
    1: "ssfsn--",  # e2: quoted time and flag, a float, a negative integer
    2: "sf-b---",  # e3: an exponent is a float; null, object and array are '-'
    9: "-------",  # not JSON
    11: "d------",  # event_id given twice
    16: "-------",  # '{"event_id":"e17" "vip":true}' is malformed
}


def test_json_fields_types_the_fields(stack_settings):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = Configuration()
    config.set_string("pipeline.jars", ";".join(p.resolve().as_uri() for p in jars.classpath(stack_settings, "udf")))
    config.set_string("parallelism.default", "1")
    t_env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_batch_mode().with_configuration(config).build())
    t_env.execute_sql(rollup_sql.JSON_FIELDS_FUNCTION)
    values = ", ".join("({}, '{}')".format(i, MESSAGES[i].replace("'", "''")) for i in TYPES)
    names = ", ".join(f"'{f}'" for f in FIELDS)
    query = (f"SELECT id, JSON_FIELDS(msg, {names})[{len(FIELDS) + 1}] "
             f"FROM (VALUES {values}) AS t(id, msg)")
    with t_env.execute_sql(query).collect() as results:
        got = {row[0]: row[1] for row in results}
    assert got == TYPES


# JSON_FIELDS' very last element: what is wrong with the message as a whole (None: nothing).
# Messages as bytes, handed to Flink in base64 (FROM_BASE64 keeps the bytes as they are, as
# the job's raw Kafka format does: invalid UTF-8 included).
def _sized(total: int) -> bytes:
    """A valid object of exactly ``total`` bytes."""
    head, tail = b'{"event_id":"', b'"}'
    return head + b"x" * (total - len(head) - len(tail)) + tail


def _nested(depth: int) -> bytes:
    """An object (depth 1) whose field ``a`` holds arrays nested to ``depth`` in all."""
    return b'{"event_id":"deep","a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


PROBLEMS = [
    (b'{"event_id":"e1","a":1}', None, "e1"),
    ('{"event_id":"花西子🌸","a":"<img src=x onerror=alert(1)>"}'.encode(), None, "花西子🌸"),
    (b'{"event_id":"\xff","a":1}', "bad_encoding", None),  # a byte that is never UTF-8
    (b'{"event_id":"\xc0\xaf","a":1}', "bad_encoding", None),  # overlong '/'
    (b'{"event_id":"\xed\xa0\x80","a":1}', "bad_encoding", None),  # a UTF-16 surrogate
    (b'{"event_id":"\xe8\x8a","a":1}', "bad_encoding", None),  # a character cut short
    (b'{"event_id":"ok","a":1}\x80', "bad_encoding", None),  # a stray byte after the object
    (_sized(rollup_sql.MAX_MESSAGE_BYTES), None, "x" * (rollup_sql.MAX_MESSAGE_BYTES - 15)),
    (_sized(rollup_sql.MAX_MESSAGE_BYTES + 1), "too_large", None),
    (_sized(1024 * 1024), "too_large", None),
    (_nested(rollup_sql.MAX_DEPTH), None, "deep"),
    (_nested(rollup_sql.MAX_DEPTH + 1), "too_deep", None),
    (b'{"event_id":"deeper","a":' + b"[" * 50_000, "too_deep", None),  # never closed: refused at the limit
    (b'{"event_id":"nan","a":NaN}', None, None),  # not JSON (JSON has no NaN): no fields, no problem
]


def test_json_fields_names_what_is_wrong_with_the_message(stack_settings):
    import base64

    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = Configuration()
    config.set_string("pipeline.jars", ";".join(p.resolve().as_uri() for p in jars.classpath(stack_settings, "udf")))
    config.set_string("parallelism.default", "1")
    t_env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_batch_mode().with_configuration(config).build())
    t_env.execute_sql(rollup_sql.JSON_FIELDS_FUNCTION)
    values = ", ".join(f"({i}, '{base64.b64encode(m).decode()}')" for i, (m, _, _) in enumerate(PROBLEMS))
    query = ("SELECT id, v[1], v[3], v[4] FROM (SELECT id, JSON_FIELDS(FROM_BASE64(b64), 'event_id', 'a') AS v "
             f"FROM (VALUES {values}) AS t(id, b64))")
    with t_env.execute_sql(query).collect() as results:
        got = {row[0]: (row[1], row[2], row[3]) for row in results}
    for i, (message, problem, event_id) in enumerate(PROBLEMS):
        types = "--" if problem or event_id is None else None
        assert got[i][0] == event_id, (message[:60], got[i])
        assert got[i][2] == problem, (message[:60], got[i])
        if types:
            assert got[i][1] == types, (message[:60], got[i])
