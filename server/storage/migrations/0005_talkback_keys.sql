-- TalkBack keys and the queue's indexes: the same SQL on both backends (the tables are in 0004).
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
