"""SQL copies of the spatial index on SQLite and on real MariaDB and PostgreSQL servers."""

from __future__ import annotations

import numpy as np
import pytest
from tests.spatial_index.helpers import brute_force_query, make_index, random_boxes

from voxelio.errors import SpatialIndexError
from voxelio.geometry import Bbox
from voxelio.spatial_index import SpatialIndex, sql
from voxelio.storage.mem import MemorySpace, MemoryStore


def _check_sql_matches_json(db_url: str, seed: int) -> None:
    boxes = random_boxes(seed)
    store = MemoryStore("skel", space=MemorySpace())
    plain = make_index(store, boxes)
    rows = plain.to_sql(db_url)
    expected_files = plain.file_locations_per_label()
    assert rows == sum(len(v) for v in expected_files.values())

    backed = SpatialIndex(plain.store, *_layout(plain), sql_db=db_url)
    assert backed.query() == set(boxes)  # whole layer: answered by the database
    assert sql.all_labels(db_url).tolist() == sorted(boxes)
    located = backed.file_locations_per_label()
    assert {k: sorted(v) for k, v in located.items()} == {
        k: sorted(v) for k, v in expected_files.items()
    }
    for label in list(boxes)[:5]:
        got = backed.get_bbox(label)
        assert got is not None and got.to_list() == pytest.approx(boxes[label].to_list())
    assert backed.get_bbox(424242) is None
    query = Bbox([100, 100, 100], [600, 700, 1500])
    assert backed.query(query) == brute_force_query(boxes, query)


def _layout(index: SpatialIndex) -> tuple[Bbox, list[float]]:
    return index.physical_bounds, index.chunk_size.tolist()


def test_sqlite_export_and_queries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _check_sql_matches_json(f"sqlite://{tmp_path / 'index.db'}", seed=21)


def test_sqlite_export_replaces_previous_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path / 'index.db'}"
    first = make_index(MemoryStore("a", MemorySpace()), random_boxes(1, count=5))
    first.to_sql(url)
    second = make_index(MemoryStore("b", MemorySpace()), random_boxes(2, count=7))
    second.to_sql(url)
    assert set(sql.all_labels(url).tolist()) == second.query()


def test_query_on_a_database_without_tables_is_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path / 'empty.db'}"
    with pytest.raises(SpatialIndexError, match="query failed"):
        sql.files_per_label(url, [1])


@pytest.mark.servers
def test_mariadb_export_and_queries(mariadb_url: str) -> None:
    _check_sql_matches_json(f"{mariadb_url}/spatial_index_test", seed=31)


@pytest.mark.servers
def test_postgres_export_and_queries(postgres_url: str) -> None:
    _check_sql_matches_json(f"{postgres_url}/spatial_index_test", seed=41)


@pytest.mark.servers
def test_mariadb_and_postgres_agree(mariadb_url: str, postgres_url: str) -> None:
    index = make_index(MemoryStore("c", MemorySpace()), random_boxes(51, count=60))
    index.to_sql(f"{mariadb_url}/agree")
    index.to_sql(f"{postgres_url}/agree")
    a = sql.all_labels(f"{mariadb_url}/agree")
    b = sql.all_labels(f"{postgres_url}/agree")
    assert a.dtype == b.dtype == np.uint64
    assert a.tolist() == b.tolist() == sorted(index.query())


@pytest.mark.servers
def test_wrong_password_host_is_reported_without_the_password(postgres_url: str) -> None:
    port = postgres_url.rsplit(":", 1)[1]
    url = f"postgres://postgres:secretpw@127.0.0.1:{port}/no_such_db_here"
    with pytest.raises(Exception) as info:
        sql.files_per_label(url, [1])
    assert "secretpw" not in str(info.value)
