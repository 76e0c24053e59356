"""SQL copies of a spatial index: SQLite, MySQL/MariaDB and PostgreSQL.

The schema is cloud-volume's, so a database built by either tool serves both::

    index_files(id, filename)      one row per ``.spatial`` file
    file_lookup(label, fid)        one row per (label, file it appears in)

Labels are uint64; SQLite and PostgreSQL only have signed 64-bit integers, so labels at or above
2**63 are stored as their two's-complement value and mapped back on read (cloud-volume does the
same). URLs: ``sqlite://path.db`` (or a bare path), ``mysql://user:pw@host:port/db``,
``postgres://user:pw@host:port/db`` (``postgresql://`` too); the database defaults to
``spatial_index``. Drivers are imported when used: ``pymysql`` for MySQL/MariaDB and
``psycopg`` (3) for PostgreSQL. Functions open and close their own connections: thread safe.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelio.errors import MissingCodecError, SpatialIndexError

_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
_U64 = (1 << 64) - 1
_BATCH = 50_000


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL; ``database`` is the file path for SQLite."""

    scheme: str
    database: str
    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None

    @property
    def placeholder(self) -> str:
        """The driver's bind-parameter marker."""
        return "?" if self.scheme == "sqlite" else "%s"


def parse_db_url(url: str) -> DbUrl:
    """Parse ``sqlite://``, ``mysql://`` or ``postgres://`` URLs (see the module docstring)."""
    if "://" not in url:
        return DbUrl("sqlite", url)
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        return DbUrl("sqlite", rest)
    if scheme == "postgresql":
        scheme = "postgres"
    if scheme not in ("mysql", "postgres"):
        raise SpatialIndexError(
            f"spatial_index_db {url!r}: scheme {scheme!r} is not sqlite, mysql or postgres"
        )
    parts = urllib.parse.urlparse(url)
    database = parts.path.strip("/") or "spatial_index"
    if not _NAME_RE.match(database):
        raise SpatialIndexError(
            f"spatial_index_db: database name {database!r} may hold only letters, digits and _"
        )
    return DbUrl(
        scheme,
        database,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=parts.port,
    )


def connect(db: DbUrl, use_database: bool = True) -> Any:
    """A new DB-API connection (the caller closes it)."""
    if db.scheme == "sqlite":
        return sqlite3.connect(db.database)
    if db.scheme == "mysql":
        return _connect_mysql(db, use_database)
    return _connect_postgres(db, db.database if use_database else "postgres")


def _connect_mysql(db: DbUrl, use_database: bool) -> Any:
    try:
        import pymysql
    except ImportError as exc:
        raise MissingCodecError(
            "mysql:// spatial index needs pymysql: pip install pymysql"
        ) from exc
    return pymysql.connect(
        host=db.host or "127.0.0.1",
        port=db.port or 3306,
        user=db.username or "root",
        password=db.password or "",
        database=db.database if use_database else None,
        autocommit=False,
    )


def _connect_postgres(db: DbUrl, database: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingCodecError(
            "postgres:// spatial index needs psycopg: pip install 'psycopg[binary]'"
        ) from exc
    kwargs: dict[str, Any] = {
        "host": db.host or "127.0.0.1",
        "port": db.port or 5432,
        "user": db.username,
        "password": db.password,
        "dbname": database,
    }
    return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})


def _to_signed(label: int) -> int:
    return label - (1 << 64) if label >= (1 << 63) else label


def _create_database(db: DbUrl) -> None:
    if db.scheme == "mysql":
        conn = connect(db, use_database=False)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE DATABASE IF NOT EXISTS {db.database} "
                    "CHARACTER SET utf8 COLLATE utf8_bin"
                )
            conn.commit()
        finally:
            conn.close()
    elif db.scheme == "postgres":
        conn = connect(db, use_database=False)
        try:
            conn.autocommit = True
            cur = conn.cursor()
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.database,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{db.database}"')
        finally:
            conn.close()


def _create_tables(db: DbUrl, cur: Any) -> None:
    if db.scheme == "mysql":
        id_col, label_t, tail = "BIGINT UNSIGNED PRIMARY KEY", "BIGINT UNSIGNED", ""
    elif db.scheme == "postgres":
        id_col, label_t, tail = "BIGINT PRIMARY KEY", "BIGINT", ""
    else:
        id_col, label_t, tail = "INTEGER PRIMARY KEY", "INTEGER", ""
    drop = " CASCADE" if db.scheme == "postgres" else ""
    cur.execute(f"DROP TABLE IF EXISTS file_lookup{drop}")
    cur.execute(f"DROP TABLE IF EXISTS index_files{drop}")
    cur.execute(f"CREATE TABLE index_files (id {id_col}, filename VARCHAR(100) NOT NULL){tail}")
    cur.execute("CREATE INDEX idxfname ON index_files (filename)")
    cur.execute(f"CREATE TABLE file_lookup (label {label_t} NOT NULL, fid {label_t} NOT NULL)")


def _create_indices(db: DbUrl, cur: Any) -> None:
    if db.scheme == "sqlite":
        cur.execute("CREATE UNIQUE INDEX pk_label_fid ON file_lookup (label, fid)")
    else:
        cur.execute("ALTER TABLE file_lookup ADD PRIMARY KEY (label, fid)")
    cur.execute("CREATE INDEX fname ON file_lookup (fid)")


def export_index(
    url: str,
    files: Iterable[tuple[str, Mapping[int, Any]]],
    create_indices: bool = True,
) -> int:
    """(Re)build the tables at ``url`` from ``(filename, {label: bbox})`` pairs.

    Existing ``index_files``/``file_lookup`` tables are replaced. Returns the number of
    (label, file) rows written.
    """
    db = parse_db_url(url)
    _create_database(db)
    conn = connect(db)
    try:
        cur = conn.cursor()
        _create_tables(db, cur)
        rows = _insert_all(db, cur, files)
        if create_indices:
            _create_indices(db, cur)
        conn.commit()
        return rows
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.close()


def _insert_all(db: DbUrl, cur: Any, files: Iterable[tuple[str, Mapping[int, Any]]]) -> int:
    ph = db.placeholder
    signed = db.scheme != "mysql"
    pending: list[tuple[int, int]] = []
    total = 0
    for fid, (filename, labels) in enumerate(files, start=1):
        cur.execute(f"INSERT INTO index_files (id, filename) VALUES ({ph}, {ph})", (fid, filename))
        pending.extend((_to_signed(int(lbl)) if signed else int(lbl), fid) for lbl in labels)
        if len(pending) >= _BATCH:
            total += _insert_lookup(db, cur, pending)
            pending = []
    return total + _insert_lookup(db, cur, pending)


def _insert_lookup(db: DbUrl, cur: Any, rows: list[tuple[int, int]]) -> int:
    if not rows:
        return 0
    if db.scheme == "postgres":
        with cur.copy("COPY file_lookup (label, fid) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        ph = db.placeholder
        cur.executemany(f"INSERT INTO file_lookup (label, fid) VALUES ({ph}, {ph})", rows)
    return len(rows)


def all_labels(url: str) -> np.ndarray:
    """Every distinct label in the database, sorted, as uint64."""
    db = parse_db_url(url)
    conn = connect(db)
    try:
        cur = conn.cursor()
        cur.execute("SELECT DISTINCT label FROM file_lookup")
        values = [int(row[0]) & _U64 for row in cur.fetchall()]
    finally:
        conn.close()
    return np.sort(np.array(values, dtype=np.uint64))


def files_per_label(url: str, labels: Iterable[int] | None = None) -> dict[int, list[str]]:
    """``{label: [index file names]}`` for ``labels`` (every label when ``None``)."""
    db = parse_db_url(url)
    conn = connect(db)
    sql = (
        "SELECT file_lookup.label, index_files.filename FROM file_lookup "
        "JOIN index_files ON file_lookup.fid = index_files.id"
    )
    out: dict[int, list[str]] = {}
    try:
        cur = conn.cursor()
        wanted = None if labels is None else sorted({int(x) for x in labels})
        chunks = (
            [None]
            if wanted is None
            else [wanted[i : i + 1000] for i in range(0, len(wanted), 1000)]
        )
        for chunk in chunks:
            if chunk is None:
                cur.execute(sql)
            else:
                values = [x if db.scheme == "mysql" else _to_signed(x) for x in chunk]
                marks = ",".join([db.placeholder] * len(values))
                cur.execute(f"{sql} WHERE file_lookup.label IN ({marks})", values)
            for label, filename in cur.fetchall():
                name = filename.decode() if isinstance(filename, (bytes, bytearray)) else filename
                out.setdefault(int(label) & _U64, []).append(str(name))
    except Exception as exc:
        if isinstance(exc, (SpatialIndexError, MissingCodecError)):
            raise
        raise SpatialIndexError(f"spatial_index_db {_redact(url)}: query failed ({exc})") from exc
    finally:
        conn.close()
    return out


def _redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
