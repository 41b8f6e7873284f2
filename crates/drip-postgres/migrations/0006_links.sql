-- Public links to files and upload-only drop links to folders. Tokens are stored only as
-- their SHA-256 (a token has 256 bits of entropy); passwords as argon2 PHC strings. A
-- link goes with its file (ON DELETE CASCADE from storage_media), a drop with its owner.
CREATE TABLE public_links (
    id            text COLLATE "C" NOT NULL,
    media_id      text COLLATE "C" NOT NULL,
    creator_id    text COLLATE "C" NOT NULL,
    token_hash    bytea NOT NULL,
    password_hash text,
    expires_at    timestamptz,
    max_downloads bigint,
    downloads     bigint NOT NULL DEFAULT 0,
    notify        boolean NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT public_links_pkey PRIMARY KEY (id),
    CONSTRAINT public_links_token_hash_key UNIQUE (token_hash),
    CONSTRAINT public_links_media_id_fkey FOREIGN KEY (media_id) REFERENCES storage_media (id) ON DELETE CASCADE,
    CONSTRAINT public_links_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT public_links_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT public_links_max_downloads_check CHECK (max_downloads > 0),
    CONSTRAINT public_links_downloads_check CHECK (downloads >= 0)
);
CREATE INDEX public_links_creator_idx ON public_links (creator_id, created_at, id);
CREATE INDEX public_links_media_idx ON public_links (media_id, created_at, id);

CREATE TABLE drop_links (
    id            text COLLATE "C" NOT NULL,
    owner_id      text COLLATE "C" NOT NULL,
    full_path     text COLLATE "C" NOT NULL,
    token_hash    bytea NOT NULL,
    password_hash text,
    expires_at    timestamptz,
    max_uploads   bigint,
    max_bytes     bigint,
    uploads       bigint NOT NULL DEFAULT 0,
    bytes         bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    CONSTRAINT drop_links_pkey PRIMARY KEY (id),
    CONSTRAINT drop_links_token_hash_key UNIQUE (token_hash),
    CONSTRAINT drop_links_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT drop_links_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT drop_links_max_uploads_check CHECK (max_uploads > 0),
    CONSTRAINT drop_links_max_bytes_check CHECK (max_bytes > 0),
    CONSTRAINT drop_links_uploads_check CHECK (uploads >= 0),
    CONSTRAINT drop_links_bytes_check CHECK (bytes >= 0)
);
CREATE INDEX drop_links_owner_idx ON drop_links (owner_id, created_at, id);
