-- The language an account's e-mails and the pages its links open are written in: 'en' or 'ru' (server/auth/language.py).
-- Chosen at sign-up (else taken from the browser's Accept-Language) and changed with PATCH /api/me.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
