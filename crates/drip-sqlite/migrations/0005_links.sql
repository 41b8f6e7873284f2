-- Public links to files and upload-only drop links to folders (times in microseconds since
-- the Unix epoch). Tokens are stored only as their SHA-256 (a token has 256 bits of
-- entropy); passwords as argon2 PHC strings. A link goes with its file (ON DELETE CASCADE
-- from storage_media), a drop with its owner.
CREATE TABLE public_links (
    id            TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    creator_id    TEXT NOT NULL,
    token_hash    BLOB NOT NULL,
    password_hash TEXT,
    expires_at    INTEGER,
    max_downloads INTEGER,
    downloads     INTEGER NOT NULL DEFAULT 0,
    notify        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    CONSTRAINT public_links_pkey PRIMARY KEY (id),
    CONSTRAINT public_links_token_hash_key UNIQUE (token_hash),
    CONSTRAINT public_links_media_id_fkey FOREIGN KEY (media_id) REFERENCES storage_media (id) ON DELETE CASCADE,
    CONSTRAINT public_links_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT public_links_token_hash_check CHECK (length(token_hash) = 32),
    CONSTRAINT public_links_max_downloads_check CHECK (max_downloads > 0),
    CONSTRAINT public_links_downloads_check CHECK (downloads >= 0),
    CONSTRAINT public_links_notify_check CHECK (notify IN (0, 1))
) STRICT;
CREATE INDEX public_links_creator_idx ON public_links (creator_id, created_at, id);
CREATE INDEX public_links_media_idx ON public_links (media_id, created_at, id);

CREATE TABLE drop_links (
    id            TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    full_path     TEXT NOT NULL,
    token_hash    BLOB NOT NULL,
    password_hash TEXT,
    expires_at    INTEGER,
    max_uploads   INTEGER,
    max_bytes     INTEGER,
    uploads       INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    CONSTRAINT drop_links_pkey PRIMARY KEY (id),
    CONSTRAINT drop_links_token_hash_key UNIQUE (token_hash),
    CONSTRAINT drop_links_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT drop_links_token_hash_check CHECK (length(token_hash) = 32),
    CONSTRAINT drop_links_max_uploads_check CHECK (max_uploads > 0),
    CONSTRAINT drop_links_max_bytes_check CHECK (max_bytes > 0),
    CONSTRAINT drop_links_uploads_check CHECK (uploads >= 0),
    CONSTRAINT drop_links_bytes_check CHECK (bytes >= 0)
) STRICT;
CREATE INDEX drop_links_owner_idx ON drop_links (owner_id, created_at, id);
