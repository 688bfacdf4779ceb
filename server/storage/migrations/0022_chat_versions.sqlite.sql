-- Versions under which a process keeps what it read of a chat across transactions (the batch writer caches a
-- big chat's members and the counters of the users following its stream: see server/storage/versioned.py).
-- Each is set, in the same transaction as any change of what it covers, to a value never used before (random:
-- 64 bits), so a cached copy is used only while nothing it covers changed, whichever process changed it, and a
-- copy read inside a transaction that rolled back can never match again. Covered by triggers, so no writer of
-- these tables (nor a cascade from deleting a user or a chat) can forget. A migration that rebuilds
-- chat_members or user_seq must make these triggers again.
ALTER TABLE chats ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chat_streams ADD COLUMN followers_version BIGINT NOT NULL DEFAULT 0;

-- Members: who is in the chat, their role, where their history starts.
CREATE TRIGGER chat_members_added AFTER INSERT ON chat_members BEGIN
    UPDATE chats SET members_version = random() WHERE id = NEW.chat_id;
END;
CREATE TRIGGER chat_members_removed AFTER DELETE ON chat_members BEGIN
    UPDATE chats SET members_version = random() WHERE id = OLD.chat_id;
END;
CREATE TRIGGER chat_members_changed AFTER UPDATE OF chat_id, user_id, role, joined_message_id ON chat_members
WHEN OLD.chat_id IS NOT NEW.chat_id OR OLD.user_id IS NOT NEW.user_id OR OLD.role IS NOT NEW.role
    OR OLD.joined_message_id IS NOT NEW.joined_message_id
BEGIN
    UPDATE chats SET members_version = random() WHERE id IN (OLD.chat_id, NEW.chat_id);
END;

-- Followers: the counters (user_seq) of the users whose open stream is the chat's, before and after a change.
CREATE TRIGGER user_seq_added AFTER INSERT ON user_seq WHEN NEW.open_chat IS NOT NULL BEGIN
    UPDATE chat_streams SET followers_version = random() WHERE chat_id = NEW.open_chat;
END;
CREATE TRIGGER user_seq_removed AFTER DELETE ON user_seq WHEN OLD.open_chat IS NOT NULL BEGIN
    UPDATE chat_streams SET followers_version = random() WHERE chat_id = OLD.open_chat;
END;
CREATE TRIGGER user_seq_changed AFTER UPDATE ON user_seq
WHEN OLD.open_chat IS NOT NULL OR NEW.open_chat IS NOT NULL
BEGIN
    UPDATE chat_streams SET followers_version = random() WHERE chat_id IN (OLD.open_chat, NEW.open_chat);
END;
