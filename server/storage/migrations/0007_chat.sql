-- Chat: chats, members, messages, and each user's numbered event log (their `seq`).
-- Names, descriptions, message bodies and invite codes are personal data: stored encrypted (BYTEA).

-- A chat is direct (exactly two members, one chat per pair) or a group. Ids are random, so they reveal
-- nothing about how many chats exist. `pair_index` is a blind index of the two user ids of a direct chat.
CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    e2e SMALLINT NOT NULL DEFAULT 0,
    pair_index BYTEA UNIQUE,
    name BYTEA,
    description BYTEA,
    avatar_id TEXT,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    last_message_id BIGINT NOT NULL DEFAULT 0,
    last_message_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- A member sees the chat's messages from `joined_message_id` on. `read_id` and `delivered_id` are the
-- member's read and delivery pointers (message ids); pin, mute and archive are the member's own.
CREATE TABLE chat_members (
    chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at DOUBLE PRECISION NOT NULL,
    joined_message_id BIGINT NOT NULL DEFAULT 0,
    read_id BIGINT NOT NULL DEFAULT 0,
    delivered_id BIGINT NOT NULL DEFAULT 0,
    pinned_at DOUBLE PRECISION,
    muted_until DOUBLE PRECISION,
    archived SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_members_by_user ON chat_members (user_id, chat_id);

-- Message ids run 1, 2, 3... within a chat (reserved on the chat's row, as entry ids are on a channel's), so
-- history pages by (chat_id, id). `meta` is encrypted JSON: mentions, the forward's origin, attachments.
-- In an end-to-end chat, `body` is the client's ciphertext, stored as it came.
CREATE TABLE messages (
    chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    sender_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    client_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'system')),
    body BYTEA,
    reply_to BIGINT,
    meta BYTEA,
    created_at DOUBLE PRECISION NOT NULL,
    edited_at DOUBLE PRECISION,
    deleted_at DOUBLE PRECISION,
    PRIMARY KEY (chat_id, id)
);
-- Idempotent sends: a resend with the same client_id finds the original.
CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_id);

-- "Delete for me": the message stays for the others.
CREATE TABLE hidden_messages (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, chat_id, message_id),
    FOREIGN KEY (chat_id, message_id) REFERENCES messages (chat_id, id) ON DELETE CASCADE
);

CREATE TABLE reactions (
    chat_id TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (chat_id, message_id, user_id, emoji),
    FOREIGN KEY (chat_id, message_id) REFERENCES messages (chat_id, id) ON DELETE CASCADE
);

-- Each user's event log: every push that carries a `seq` has a row here, so a client that reconnects with
-- the last seq it saw reads exactly what it missed. Message events point at the message (their content is
-- read from it); other events keep their fields in `payload` (encrypted JSON).
CREATE TABLE user_seq (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE user_events (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    chat_id TEXT,
    message_id BIGINT,
    payload BYTEA,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, seq)
);

-- Invite links to a group: the code is a secret (encrypted, found by its blind index).
CREATE TABLE chat_invites (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    code_index BYTEA NOT NULL UNIQUE,
    code BYTEA NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    expires_at DOUBLE PRECISION,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX chat_invites_by_chat ON chat_invites (chat_id);

CREATE TABLE user_blocks (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);

-- Reported messages wait in the admins' queue.
CREATE TABLE message_reports (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    reporter_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    reason BYTEA,
    created_at DOUBLE PRECISION NOT NULL,
    resolved_at DOUBLE PRECISION,
    resolved_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    resolution TEXT,
    FOREIGN KEY (chat_id, message_id) REFERENCES messages (chat_id, id) ON DELETE CASCADE
);
CREATE INDEX message_reports_open ON message_reports (resolved_at, created_at);

-- Per-user chat settings: who may see my presence, and whether pushes may carry a message preview.
CREATE TABLE chat_settings (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    presence TEXT NOT NULL DEFAULT 'everyone' CHECK (presence IN ('everyone', 'contacts', 'nobody')),
    push_previews SMALLINT NOT NULL DEFAULT 0,
    last_seen_at DOUBLE PRECISION
);
