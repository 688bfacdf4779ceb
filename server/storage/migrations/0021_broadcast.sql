-- A broadcast group (a "channel"): only its owner and admins post; members read, react and leave. Chosen when the
-- group is made, changed by its owner. It holds more members than a plain group (see server/chat/service.py).
ALTER TABLE chats ADD COLUMN broadcast SMALLINT NOT NULL DEFAULT 0;
