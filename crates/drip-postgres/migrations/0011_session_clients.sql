-- What a session was opened from (the client's User-Agent, cleaned: ClientLabel), so that a
-- user can tell their sessions apart. Every token of a family carries its family's label
-- (rotation copies it); tokens issued before this migration have none.
ALTER TABLE refresh_tokens ADD COLUMN client TEXT
    CONSTRAINT refresh_tokens_client_check CHECK (client IS NULL OR char_length(client) BETWEEN 1 AND 200);
