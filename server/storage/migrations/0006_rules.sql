-- Automation rules on a channel's points. Config, actions and state are JSON text; state is rewritten after
-- every evaluation so a restart carries on where it stopped (hysteresis phase, PID integral, last data time).
CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('threshold', 'no_data', 'expression', 'pid')),
    enabled SMALLINT NOT NULL DEFAULT 1,
    config TEXT NOT NULL,
    actions BYTEA NOT NULL, -- AES-GCM ciphertext of the JSON (webhook URLs can carry tokens)
    state TEXT NOT NULL,
    -- Events get gap-free sequence numbers from this counter (UPDATE ... RETURNING, as feed entry ids do).
    last_event_seq BIGINT NOT NULL DEFAULT 0,
    evaluated_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX rules_by_channel ON rules (channel_id, enabled);
CREATE INDEX rules_by_kind ON rules (kind, enabled);

-- What a rule did (triggered, cleared, wrote, queued, alerted, failed...); the newest few hundred are kept.
CREATE TABLE rule_events (
    rule_id TEXT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (rule_id, seq)
);
