"""Re-encrypt every encrypted column with the keyring's primary key, in small batches, while the server runs."""

from __future__ import annotations

import logging

from server.crypto.keyring import Keyring
from server.storage.database import Database

log = logging.getLogger(__name__)


async def rotate(
    db: Database, keyring: Keyring, tables: dict[str, tuple[str, tuple[str, ...]]], *, batch: int = 500
) -> dict[str, int]:
    """Returns how many values were re-encrypted, by table. Safe to run again; safe beside live writes:
    each update only applies if the value is still the one read (a newer write wins)."""
    done: dict[str, int] = {}
    for table, (key_column, columns) in tables.items():
        done[table] = 0
        last = ""
        while True:
            rows = await db.fetch(
                f"SELECT {key_column}, {', '.join(columns)} FROM {table} WHERE {key_column} > $1"
                f" ORDER BY {key_column} LIMIT $2",
                last,
                batch,
            )
            if not rows:
                break
            # One short transaction per batch keeps the writer free for the server between batches.
            async with db.transaction() as tx:
                for row in rows:
                    row_id = str(row[key_column])
                    for column in columns:
                        old = row[column]
                        if old is None or not keyring.needs_rotation(old):
                            continue
                        plain = keyring.decrypt_bytes(old, table=table, column=column, row_id=row_id)
                        new = keyring.encrypt(plain, table=table, column=column, row_id=row_id)
                        done[table] += await tx.execute(
                            f"UPDATE {table} SET {column} = $1 WHERE {key_column} = $2 AND {column} = $3",
                            new,
                            row_id,
                            old,
                        )
            last = str(rows[-1][key_column])
        log.info("re-encrypted %d values in %s", done[table], table)
    return done
