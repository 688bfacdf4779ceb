"""Re-encrypt every encrypted column with the keyring's primary key, in small batches, while the server runs."""

from __future__ import annotations

import logging

from server.crypto.keyring import Keyring
from server.storage.database import Database

log = logging.getLogger(__name__)


async def rotate(
    db: Database,
    keyring: Keyring,
    tables: dict[str, tuple[str | tuple[str, ...], tuple[str, ...]]],
    *,
    batch: int = 500,
) -> dict[str, int]:
    """Returns how many values were re-encrypted, by table. Safe to run again; safe beside live writes:
    each update only applies if the value is still the one read (a newer write wins)."""
    done: dict[str, int] = {}
    for table, (key, columns) in tables.items():
        keys = (key,) if isinstance(key, str) else key
        done[table] = 0
        order = ", ".join(keys)
        last: tuple[object, ...] | None = None
        while True:
            # Keyset pages over the primary key (a row value comparison when the key has several columns).
            after = "" if last is None else f" WHERE ({order}) > ({', '.join(f'${i + 2}' for i in range(len(keys)))})"
            rows = await db.fetch(
                f"SELECT {order}, {', '.join(columns)} FROM {table}{after} ORDER BY {order} LIMIT $1",
                batch,
                *(last or ()),
            )
            if not rows:
                break
            # One short transaction per batch keeps the writer free for the server between batches.
            async with db.transaction() as tx:
                for row in rows:
                    row_id = ":".join(str(row[k]) for k in keys)
                    match = " AND ".join(f"{k} = ${i + 2}" for i, k in enumerate(keys))
                    for column in columns:
                        old = row[column]
                        if old is None or not keyring.needs_rotation(old):
                            continue
                        plain = keyring.decrypt_bytes(old, table=table, column=column, row_id=row_id)
                        new = keyring.encrypt(plain, table=table, column=column, row_id=row_id)
                        done[table] += await tx.execute(
                            f"UPDATE {table} SET {column} = $1 WHERE {match} AND {column} = ${len(keys) + 2}",
                            new,
                            *(row[k] for k in keys),
                            old,
                        )
            last = tuple(rows[-1][k] for k in keys)
        log.info("re-encrypted %d values in %s", done[table], table)
    return done
