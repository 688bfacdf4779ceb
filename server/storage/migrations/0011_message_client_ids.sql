-- Idempotent sends look messages up by client_id for a whole batch at once: lead the unique index with
-- client_id (random UUIDs), so one probe finds each, instead of one probe per sender and client_id pair.
DROP INDEX messages_by_client_id;
CREATE UNIQUE INDEX messages_by_client_id ON messages (client_id, sender_id);
