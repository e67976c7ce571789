"""The declared contract (stream.contract) against what it declares: the event JSON Schemas and
the ClickHouse migrations. A mismatch fails here in seconds, not in a pipeline test."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from stream import contract
from stream.contract import ROLLUPS, VERSION_COLUMN
from stream.settings import PROJECT_ROOT, SCHEMAS_DIR
from stream.stack import migrations
from tests.support.chdb_engine import ChdbClient

CLICKHOUSE_TYPES = {contract.WINDOW: "DateTime", contract.FLAG: "UInt8", contract.COUNT: "UInt64",
                    contract.FEN: "Int64", contract.TEXT: "String"}


@pytest.mark.parametrize(("schema", "field"), [(s, f) for s, fields in contract.EVENT_ENUMS.items()
                                                for f in fields])
def test_event_enums_are_the_schemas_enums(schema, field):
    document = json.loads((SCHEMAS_DIR / f"{schema}.schema.json").read_text())
    assert tuple(document["properties"][field]["enum"]) == contract.EVENT_ENUMS[schema][field]


def test_every_enum_field_of_the_schemas_is_declared():
    for schema in ("order", "logistics"):
        document = json.loads((SCHEMAS_DIR / f"{schema}.schema.json").read_text())
        with_enum = {f for f, spec in document["properties"].items() if "enum" in spec}
        assert with_enum == set(contract.EVENT_ENUMS[schema]), schema


def test_measures_read_declared_fields_and_values():
    order = json.loads((SCHEMAS_DIR / "order.schema.json").read_text())["properties"]
    for m in contract.ORDER_MEASURES:
        assert m.status in contract.ORDER_STATUSES
        assert m.except_phase is None or m.except_phase in contract.PRESALE_PHASES
        assert m.phase is None or m.phase in contract.PRESALE_PHASES
        assert m.amount is None or order[m.amount]["type"] == "integer"
    for dim in contract.DIMENSIONS:
        assert dim in order
    assert {d for pair in contract.PAIRS for d in pair} <= set(contract.DIMENSIONS)


@pytest.fixture(scope="module")
def migrated():
    """Every migration applied to a current ClickHouse engine (chDB, in-process)."""
    client = ChdbClient()
    migrations.apply(client, "contract_check")
    yield client
    client.close()


@pytest.mark.parametrize("name", list(ROLLUPS))
def test_migrated_table_has_the_declared_columns(migrated, name):
    rollup = ROLLUPS[name]
    described = migrated.execute(f"DESCRIBE TABLE contract_check.{rollup.table}")
    found = [(row[0], row[1]) for row in described]
    declared = [(c.name, CLICKHOUSE_TYPES[c.kind]) for c in rollup.columns] + [(VERSION_COLUMN, "UInt64")]
    assert sorted(found) == sorted(declared)


@pytest.mark.parametrize("name", list(ROLLUPS))
def test_migrated_table_keeps_one_row_per_declared_key(migrated, name):
    """ReplacingMergeTree collapses rows with equal sorting keys: the key must be exactly the
    declared keys, and the version column the newest write."""
    rollup = ROLLUPS[name]
    sorting_key, engine = migrated.execute(
        "SELECT sorting_key, engine_full FROM system.tables "
        f"WHERE database = 'contract_check' AND name = '{rollup.table}'")[0]
    assert sorted(k.strip() for k in sorting_key.split(",")) == sorted(c.name for c in rollup.keys)
    assert engine.startswith(f"ReplacingMergeTree({VERSION_COLUMN})")


def test_no_product_module_declares_the_contract_again():
    """The measures tuple, the time zone and the enums are defined once, in stream.contract."""
    repeated = {contract.MEASURES, contract.PARCEL_STATUSES, contract.ORDER_STATUSES, contract.CHANNELS}
    offenders = []
    for path in [*Path(PROJECT_ROOT, "stream").rglob("*.py"), *Path(PROJECT_ROOT, "dashboard").rglob("*.py")]:
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            value = getattr(node, "value", None) if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Tuple) and all(isinstance(e, ast.Constant) for e in value.elts):
                if tuple(e.value for e in value.elts) in repeated:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "timedelta":
                if any(k.arg == "hours" and getattr(k.value, "value", None) == 8 for k in node.keywords):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} (UTC+8)")
    assert offenders == []


def test_only_the_contract_names_rollup_tables_in_product_code():
    tables = {r.table for r in ROLLUPS.values()}
    offenders = []
    for path in [*Path(PROJECT_ROOT, "stream").rglob("*.py"), *Path(PROJECT_ROOT, "dashboard").rglob("*.py")]:
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if any(f".{t} " in node.value or f".{t}\n" in node.value or node.value == t for t in tables):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_cube_is_keyed_by_every_low_cardinality_field():
    """verify and the ledger key cube rows by ``dimensions``: the VIP flag is one, ``late`` is not."""
    cube = contract.ROLLUPS["orders_minute_cube"]
    assert cube.dimensions == contract.CUBE_DIMENSIONS
    assert contract.LATE_COLUMN not in cube.dimensions and contract.LATE_COLUMN in [c.name for c in cube.keys]
