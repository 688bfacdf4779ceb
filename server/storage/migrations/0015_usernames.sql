-- Usernames and finding people. A username (`@name`) is chosen by its owner and shown to others; it is stored
-- encrypted as written (its case kept), and found through `username_index`, a blind index of its folded form
-- (lower case), which makes it unique without regard to case. No username: both columns are NULL.
-- `email_discoverable`: others may find this account by its exact e-mail address (off unless the owner says so).
ALTER TABLE users ADD COLUMN username BYTEA;
ALTER TABLE users ADD COLUMN username_index BYTEA;
ALTER TABLE users ADD COLUMN email_discoverable SMALLINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_by_username ON users (username_index);
