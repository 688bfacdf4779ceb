-- Web Push: one subscription per device, a device being a signed-in session. The endpoint URL and the two
-- keys are device tokens, so personal data: AES-GCM ciphertext (BYTEA), bound to the row's id. The endpoint's
-- blind index finds a browser's subscription again when it is registered from another session (signed out
-- and in, or another account in the same browser), so the old row is replaced, never doubled.
CREATE TABLE push_subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    endpoint_index BYTEA NOT NULL UNIQUE,
    endpoint BYTEA NOT NULL,
    p256dh BYTEA NOT NULL,
    auth BYTEA NOT NULL,
    -- The browser's expirationTime (seconds), when it gave one; the subscription is dropped after it.
    expires_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);
