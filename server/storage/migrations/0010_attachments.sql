-- Chat attachments: one row per uploaded file; the bytes live under DATA_DIR/attachments/ under the row's random
-- id, never under a name the client chose. The name is personal data: AES-GCM ciphertext (BYTEA) bound to the id.
-- In an end-to-end chat the file is the client's ciphertext (kind 'encrypted'), stored as it came.
--
-- chat_id has no foreign key on purpose: when a chat is deleted its rows stay until the sweeper finds them
-- orphaned and removes their files with them (a cascade would drop the rows and leave the files behind).
-- message_id is set when a message takes the upload (once); until then only the uploader can fetch it, and an
-- upload no message took is swept after a day. deleted_at marks the attachments of a message deleted for
-- everyone: unreachable at once, their files removed by the next sweep.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL,
    uploader_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'voice', 'document', 'encrypted')),
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    name BYTEA,
    width INTEGER,
    height INTEGER,
    has_thumbnail SMALLINT NOT NULL DEFAULT 0,
    message_id BIGINT,
    created_at DOUBLE PRECISION NOT NULL,
    deleted_at DOUBLE PRECISION
);
CREATE INDEX attachments_by_message ON attachments (chat_id, message_id);
CREATE INDEX attachments_unclaimed ON attachments (created_at) WHERE message_id IS NULL;
CREATE INDEX attachments_deleted ON attachments (deleted_at) WHERE deleted_at IS NOT NULL;
