-- A run of messages in one chat that reaches a user in one write is one row of their log: `seq` is the first
-- seq of the run, `message_id` the first message, `span` how many (the seqs and the message ids both run on
-- without a gap). A batch of messages to a group of a thousand then writes a thousand event rows, not a
-- thousand per message.
ALTER TABLE user_events ADD COLUMN span INTEGER NOT NULL DEFAULT 1;
