-- The end-to-end key directory: each device's public keys, and its one-time prekeys, each handed out once.
-- A device is a signed-in session; its keys go with the session (deleted with it, hidden once it is revoked or
-- expired). Everything here is public key material, which the server stores as it came and never interprets:
-- plain BYTEA, nothing to encrypt. `id` is the device id other users see; the session id stays private.

CREATE TABLE e2e_devices (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    identity_key BYTEA NOT NULL,
    signed_prekey_id BIGINT NOT NULL,
    signed_prekey BYTEA NOT NULL,
    signed_prekey_signature BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX e2e_devices_by_user ON e2e_devices (user_id, id);

-- Claiming deletes the row it hands out, in the claim's transaction: a one-time prekey is never handed out twice.
CREATE TABLE e2e_one_time_prekeys (
    device_id TEXT NOT NULL REFERENCES e2e_devices (id) ON DELETE CASCADE,
    key_id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, key_id)
);
