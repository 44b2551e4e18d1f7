"""The table declarations hold together: row classes, keys, indexes, names (no services)."""

from __future__ import annotations

from projections.rows import StateRow
from projections.tables import STATES, TABLES, TABLES_BY_NAME


def test_every_row_class_has_exactly_its_tables_columns_in_order() -> None:
    for table in TABLES:
        assert table.row._fields == table.column_names, table.name


def test_each_table_has_a_row_class_and_a_name_of_its_own() -> None:
    assert len({t.row for t in TABLES}) == len(TABLES)
    assert len({t.name for t in TABLES}) == len(TABLES)
    assert all(TABLES_BY_NAME[t.name] is t for t in TABLES)


def test_keys_and_indexes_name_columns_and_keys_are_never_null() -> None:
    for table in TABLES:
        columns = {c.name: c for c in table.columns}
        assert table.primary_key, table.name
        # PostgreSQL makes primary key columns NOT NULL whatever the declaration says.
        assert all(not columns[k].nullable for k in table.primary_key), table.name
        for index in table.indexes:
            assert set(index) <= columns.keys(), (table.name, index)


def test_every_digested_table_has_a_target_site() -> None:
    # The digest and the sinks restrict rows to a site subset by this column.
    for table in TABLES:
        if table.digested:
            assert "target_site" in table.column_names, table.name


def test_a_row_made_from_column_values_is_the_tables_row_type() -> None:
    values = [f"v{i}" for i in range(len(STATES.columns))]
    row = STATES.make(values)
    assert type(row) is StateRow
    assert list(row) == values
    assert STATES.key_of(row) == ("v0", "v1")
