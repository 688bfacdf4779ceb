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

-- Members: who is in the chat, their role, where their history starts. Joins and leaves move a chat's version once
-- a statement (adding 5,000 members is one update of the chat's row, not 5,000: PostgreSQL keeps every version of
-- a row updated again in one transaction, so each further update walks them all); a role or history start is
-- changed a member at a time. (Read pointers and settings are updated without firing anything.)
CREATE FUNCTION chat_members_changed() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    IF TG_OP = ''INSERT'' THEN
        UPDATE chats SET members_version = nextval(''chat_versions'') WHERE id IN (SELECT chat_id FROM new_rows);
    ELSIF TG_OP = ''DELETE'' THEN
        UPDATE chats SET members_version = nextval(''chat_versions'') WHERE id IN (SELECT chat_id FROM old_rows);
    ELSE
        UPDATE chats SET members_version = nextval(''chat_versions'') WHERE id IN (OLD.chat_id, NEW.chat_id);
    END IF;
    RETURN NULL;
END';
CREATE OR REPLACE TRIGGER chat_members_added AFTER INSERT ON chat_members
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_members_changed();
CREATE OR REPLACE TRIGGER chat_members_removed AFTER DELETE ON chat_members
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_members_changed();
CREATE OR REPLACE TRIGGER chat_members_changed AFTER UPDATE OF chat_id, user_id, role, joined_message_id ON chat_members
FOR EACH ROW WHEN (OLD.chat_id IS DISTINCT FROM NEW.chat_id OR OLD.user_id IS DISTINCT FROM NEW.user_id
    OR OLD.role IS DISTINCT FROM NEW.role OR OLD.joined_message_id IS DISTINCT FROM NEW.joined_message_id)
EXECUTE FUNCTION chat_members_changed();

-- Followers: the counters (user_seq) of the users whose open stream is the chat's, before and after a change. Once
-- a statement, for every chat a changed counter followed or follows (the writer saves its counters a few
-- statements a change, however many users a post moved).
CREATE FUNCTION user_seq_changed() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    IF TG_OP = ''INSERT'' THEN
        UPDATE chat_streams SET followers_version = nextval(''chat_versions'')
        WHERE chat_id IN (SELECT open_chat FROM new_rows);
    ELSIF TG_OP = ''DELETE'' THEN
        UPDATE chat_streams SET followers_version = nextval(''chat_versions'')
        WHERE chat_id IN (SELECT open_chat FROM old_rows);
    ELSE
        UPDATE chat_streams SET followers_version = nextval(''chat_versions'')
        WHERE chat_id IN (SELECT open_chat FROM old_rows UNION SELECT open_chat FROM new_rows);
    END IF;
    RETURN NULL;
END';
CREATE OR REPLACE TRIGGER user_seq_added AFTER INSERT ON user_seq
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_seq_changed();
CREATE OR REPLACE TRIGGER user_seq_removed AFTER DELETE ON user_seq
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_seq_changed();
CREATE OR REPLACE TRIGGER user_seq_changed AFTER UPDATE ON user_seq
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_seq_changed();
