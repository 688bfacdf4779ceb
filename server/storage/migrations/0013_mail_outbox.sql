-- Outgoing e-mail waits here until a background sender has handed it to the SMTP server, so no request waits
-- on SMTP and no mail is lost when the process stops. Recipient, subject and body are personal data: AES-GCM
-- ciphertext bound to the row's id. A sender claims a row by setting a lease (`lease_until`, `lease_owner`);
-- a lease that ran out (its process died) lets another sender take the row. `state` is 'pending' until the
-- row is sent (then deleted) or has used up its attempts ('failed', kept for the operator for a while).
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    recipient BYTEA NOT NULL,
    subject BYTEA NOT NULL,
    body BYTEA NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    lease_owner TEXT,
    last_error TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, due_at);
