-- IoT channels (ThingSpeak's model). Integer ids, as devices written for ThingSpeak expect.
CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    field1 TEXT, field2 TEXT, field3 TEXT, field4 TEXT, field5 TEXT, field6 TEXT, field7 TEXT, field8 TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    elevation DOUBLE PRECISION,
    public SMALLINT NOT NULL DEFAULT 0,
    metadata TEXT,
    tags TEXT,
    url TEXT,
    retention_days INTEGER,
    min_update_seconds DOUBLE PRECISION,
    last_entry_id BIGINT NOT NULL DEFAULT 0,
    last_write_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
