#!/usr/bin/env python3
"""Adds to every collection of a FerretDB SQLite directory an index on the exact expression
FerretDB 1.24 pushes `{_id: value}` down as (`_ferretdb_sjson->'$._id'`). FerretDB's own _id
index is on another expression, so without this even a lookup by _id reads the whole table.
Idempotent; run after the collections exist. Usage: ferretdb-indexes.py SQLITE_DIR"""
import glob
import os
import sqlite3
import sys

ID_EXPRESSION = "_ferretdb_sjson->'$._id'"

if sqlite3.sqlite_version_info < (3, 38):
    sys.exit(f"ferretdb-indexes: SQLite {sqlite3.sqlite_version} lacks the -> operator (needs 3.38)")

created = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.sqlite"))):
    db = sqlite3.connect(path, timeout=30)
    try:
        tables = [row[0] for row in db.execute("SELECT table_name FROM _ferretdb_collections")]
    except sqlite3.OperationalError:
        continue  # not a FerretDB database (yet)
    for table in tables:
        name = f"{table}_id_pushdown"
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
        if not exists:
            db.execute(f'CREATE INDEX "{name}" ON "{table}" ({ID_EXPRESSION})')
            created += 1
    db.commit()
    db.close()
print(f"ferretdb-indexes: {created} index(es) created in {sys.argv[1]}")
