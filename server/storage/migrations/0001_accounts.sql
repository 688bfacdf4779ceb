-- Accounts, sessions and one-time e-mail tokens.
-- Personal data (e-mail, names, phone, IP, user agent) is AES-GCM ciphertext (BYTEA); see server/crypto.
-- Times are seconds since the epoch. BYTEA has NUMERIC affinity in SQLite, which keeps blobs as they are.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email_index BYTEA NOT NULL UNIQUE,
    email BYTEA NOT NULL,
    display_name BYTEA NOT NULL,
    phone BYTEA,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    email_verified_at DOUBLE PRECISION,
    suspended_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip BYTEA,
    user_agent BYTEA,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, last_seen_at);

-- Refresh tokens are stored as SHA-256 hashes. A rotated token keeps its row (rotated_at set),
-- so presenting it again is recognised as reuse and ends the whole session.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at DOUBLE PRECISION NOT NULL,
    rotated_at DOUBLE PRECISION
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Links sent by e-mail (verify the address, reset the password); hashed, single use, expiring.
CREATE TABLE email_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION
);
CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose);
