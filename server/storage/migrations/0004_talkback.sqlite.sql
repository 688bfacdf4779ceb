-- TalkBack (ThingSpeak's command queues). Integer ids, as devices written for ThingSpeak expect; only the
-- identity columns differ between the two backends, the rest of this file is the same in both.
CREATE TABLE talkbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- "Log to channel": executed commands are written to this channel's status field.
    channel_id BIGINT REFERENCES channels (id) ON DELETE SET NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- A command is queued while executed_at is NULL; executing it sets executed_at and clears position.
CREATE TABLE talkback_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    talkback_id BIGINT NOT NULL REFERENCES talkbacks (id) ON DELETE CASCADE,
    command_string TEXT NOT NULL,
    position BIGINT,
    executed_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL
);

-- A TalkBack's API key is a credential: encrypted, found through a blind index (as channel keys are).
-- Its own TEXT id keeps it walkable by rotate-keys; one key per TalkBack.
CREATE TABLE talkback_keys (
    id TEXT PRIMARY KEY,
    talkback_id BIGINT NOT NULL UNIQUE REFERENCES talkbacks (id) ON DELETE CASCADE,
    key_index BYTEA NOT NULL UNIQUE,
    api_key BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX talkbacks_by_owner ON talkbacks (owner_id, id);
-- The queue: commands not executed yet, in (position, id) order.
CREATE INDEX talkback_commands_queue ON talkback_commands (talkback_id, executed_at, position, id);
