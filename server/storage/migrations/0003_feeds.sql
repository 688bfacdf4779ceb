-- API keys, feeds. Keys are credentials: stored encrypted, found through a blind index.
CREATE INDEX channels_by_owner ON channels (owner_id, id);

-- The user's API key (ThingSpeak's "user API key"): creates and lists channels.
CREATE TABLE user_api_keys (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_index BYTEA NOT NULL UNIQUE,
    api_key BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

-- A channel has one write key and any number of read keys.
CREATE TABLE channel_keys (
    id TEXT PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('write', 'read')),
    key_index BYTEA NOT NULL UNIQUE,
    api_key BYTEA NOT NULL,
    note TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX channel_keys_by_channel ON channel_keys (channel_id, kind);

-- One row per point. Field values are kept as sent (text); n1..n8 hold them as numbers where they are
-- numbers, so averages, sums and medians run in SQL on both backends.
CREATE TABLE feeds (
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    entry_id BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    field1 TEXT, field2 TEXT, field3 TEXT, field4 TEXT, field5 TEXT, field6 TEXT, field7 TEXT, field8 TEXT,
    n1 DOUBLE PRECISION, n2 DOUBLE PRECISION, n3 DOUBLE PRECISION, n4 DOUBLE PRECISION,
    n5 DOUBLE PRECISION, n6 DOUBLE PRECISION, n7 DOUBLE PRECISION, n8 DOUBLE PRECISION,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    elevation DOUBLE PRECISION,
    status TEXT,
    PRIMARY KEY (channel_id, entry_id)
);
CREATE INDEX feeds_by_time ON feeds (channel_id, created_at);
