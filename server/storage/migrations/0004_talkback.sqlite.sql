-- TalkBack (ThingSpeak's command queues). Integer ids, as devices written for ThingSpeak expect; only the
-- identity columns differ between the two backends; what both share is in 0005_talkback_keys.sql.
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
