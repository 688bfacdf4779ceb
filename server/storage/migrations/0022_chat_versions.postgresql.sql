-- Versions under which a process keeps what it read of a chat across transactions (the batch writer caches a
-- big chat's members and the counters of the users following its stream: see server/storage/versioned.py).
-- Each is set, in the same transaction as any change of what it covers, to a value never used before (from a
-- sequence, which a rollback does not give back), so a cached copy is used only while nothing it covers
-- changed, whichever process changed it, and a copy read inside a transaction that rolled back can never match
-- again. Covered by triggers, so no writer of these tables (nor a cascade from deleting a user or a chat) can
-- forget. (Migrations are split into statements as SQLite would: so the functions' bodies are quoted strings,
-- and a trigger is made with OR REPLACE, which SQLite does not read as a trigger waiting for its END.)
ALTER TABLE chats ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chat_streams ADD COLUMN followers_version BIGINT NOT NULL DEFAULT 0;
CREATE SEQUENCE chat_versions;

-- Members: who is in the chat, their role, where their history starts.
CREATE FUNCTION chat_members_changed() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    IF TG_OP <> ''INSERT'' THEN
        UPDATE chats SET members_version = nextval(''chat_versions'') WHERE id = OLD.chat_id;
    END IF;
    IF TG_OP <> ''DELETE'' AND (TG_OP = ''INSERT'' OR NEW.chat_id <> OLD.chat_id) THEN
        UPDATE chats SET members_version = nextval(''chat_versions'') WHERE id = NEW.chat_id;
    END IF;
    RETURN NULL;
END';
CREATE OR REPLACE TRIGGER chat_members_added_or_removed AFTER INSERT OR DELETE ON chat_members
FOR EACH ROW EXECUTE FUNCTION chat_members_changed();
CREATE OR REPLACE TRIGGER chat_members_changed AFTER UPDATE OF chat_id, user_id, role, joined_message_id ON chat_members
FOR EACH ROW WHEN (OLD.chat_id IS DISTINCT FROM NEW.chat_id OR OLD.user_id IS DISTINCT FROM NEW.user_id
    OR OLD.role IS DISTINCT FROM NEW.role OR OLD.joined_message_id IS DISTINCT FROM NEW.joined_message_id)
EXECUTE FUNCTION chat_members_changed();

-- Followers: the counters (user_seq) of the users whose open stream is the chat's, before and after a change.
CREATE FUNCTION user_seq_changed() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    IF TG_OP <> ''INSERT'' AND OLD.open_chat IS NOT NULL THEN
        UPDATE chat_streams SET followers_version = nextval(''chat_versions'') WHERE chat_id = OLD.open_chat;
    END IF;
    IF TG_OP <> ''DELETE'' AND NEW.open_chat IS NOT NULL
        AND (TG_OP = ''INSERT'' OR NEW.open_chat IS DISTINCT FROM OLD.open_chat) THEN
        UPDATE chat_streams SET followers_version = nextval(''chat_versions'') WHERE chat_id = NEW.open_chat;
    END IF;
    RETURN NULL;
END';
CREATE OR REPLACE TRIGGER user_seq_changed AFTER INSERT OR UPDATE OR DELETE ON user_seq
FOR EACH ROW EXECUTE FUNCTION user_seq_changed();
