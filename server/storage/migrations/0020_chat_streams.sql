-- What every member of a chat hears (a message to a group) is stored once, in the chat's own stream, not once
-- per member: `chat_events` numbers a chat's events 1, 2, 3... (`pos`), a run of them in one row (`span`), and
-- `chat_streams` holds each chat's last position. A user's seqs still run 1, 2, 3... with no gap, derived when
-- read: a row of their log of kind '@chat' covers `span` events of one chat from position `message_id` on, and
-- the chat they follow now (`user_seq.open_chat`, from position `open_from`, whose first event is their seq
-- `open_seq`) covers whatever that chat writes next without a row per event. `last_seq` is the seq before it.
-- No foreign key to chats: a user's log keeps its numbering after a chat is deleted.
CREATE TABLE chat_streams (
    chat_id TEXT PRIMARY KEY,
    last_pos BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE chat_events (
    chat_id TEXT NOT NULL,
    pos BIGINT NOT NULL,
    span INTEGER NOT NULL DEFAULT 1,
    kind TEXT NOT NULL,
    message_id BIGINT,
    payload BYTEA,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (chat_id, pos)
);

ALTER TABLE user_seq ADD COLUMN open_chat TEXT;
ALTER TABLE user_seq ADD COLUMN open_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_seq ADD COLUMN open_from BIGINT NOT NULL DEFAULT 0;
CREATE INDEX user_seq_by_open_chat ON user_seq (open_chat) WHERE open_chat IS NOT NULL;
