-- A silent message (end-to-end chats only: a reaction, whose emoji and target are inside the ciphertext) reaches
-- every member like any message but counts as no unread, rings no push and is not the chat list's last message.
-- The flag says nothing of the content, so it is stored in clear.

ALTER TABLE messages ADD COLUMN silent SMALLINT NOT NULL DEFAULT 0;
