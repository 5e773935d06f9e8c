-- 0006: numbers reached through the AudioSocket() dialplan application, with no ARI.
-- Asterisk's only routing information on that path is the UUID given to AudioSocket(<uuid>,host:port),
-- so each such number carries a fixed UUID (canonical lower-case 8-4-4-4-12 form; see
-- callwright/store/numbers_audiosocket.py). NULL: the number is not served over AudioSocket().
-- SQLite cannot add a UNIQUE column, so uniqueness is a unique index (NULLs never collide).
ALTER TABLE numbers ADD COLUMN audiosocket_uuid TEXT;
CREATE UNIQUE INDEX numbers_audiosocket_uuid ON numbers (audiosocket_uuid);
