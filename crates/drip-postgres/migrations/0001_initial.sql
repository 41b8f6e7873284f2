-- Drip's metadata schema on PostgreSQL: users, refresh tokens, media, ownership and shares,
-- and per-user folder statistics.
--
-- It starts from ElixirDrip's schema (users; storage_media; media_owners with a unique
-- (media_id, user_id) share index and ON DELETE CASCADE from media) and tightens it:
-- NOT NULL wherever the domain needs a value, 64-bit sizes, timestamptz, and explicit
-- constraint names that the adapter maps to domain errors (src/error.rs).
--
-- Every text column that is compared, sorted or range-scanned uses COLLATE "C": byte order
-- is the order the domain uses (Rust's `str` ordering), and it makes the folder prefix
-- range `full_path >= '$/a/' AND full_path < '$/a0'` exact whatever the database's locale.

-- Users. Uniqueness of usernames is decided on `username_lower`, the domain's own case
-- folding (`Username::normalized`, Unicode-aware), not on SQL lower(), whose result depends
-- on the database's ctype (ASCII-only under the C locale).
CREATE TABLE users (
    id             text COLLATE "C" NOT NULL,
    username       text NOT NULL,
    username_lower text COLLATE "C" NOT NULL,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    -- Uploaded media the user created and their total size, kept in the same transaction
    -- as every write that changes them (usage and top users read these, not the media).
    media_count    bigint NOT NULL DEFAULT 0,
    disk_usage     bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_id_check CHECK (octet_length(id) = 27),
    CONSTRAINT users_username_check CHECK (char_length(username) BETWEEN 1 AND 30),
    CONSTRAINT users_media_count_check CHECK (media_count >= 0),
    CONSTRAINT users_disk_usage_check CHECK (disk_usage >= 0)
);
-- Case-insensitive unique usernames; also the index of lookups by name and of list_owners.
CREATE UNIQUE INDEX users_username_lower_key ON users (username_lower);

-- Refresh tokens, stored as the SHA-256 of the token (never the token itself).
CREATE TABLE refresh_tokens (
    token_hash bytea NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    family_id  text COLLATE "C" NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT refresh_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT refresh_tokens_token_hash_check CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);

-- Media metadata. A row exists from the moment an upload starts (uploaded_at NULL) and
-- claims its (creator, folder, name) from then on.
CREATE TABLE storage_media (
    id           text COLLATE "C" NOT NULL,
    creator_id   text COLLATE "C" NOT NULL,
    file_name    text COLLATE "C" NOT NULL,
    full_path    text COLLATE "C" NOT NULL,
    content_type text NOT NULL,
    storage_key  text COLLATE "C" NOT NULL,
    algorithm    text NOT NULL,
    chunk_size   bigint NOT NULL,
    key_id       text COLLATE "C" NOT NULL,
    wrapped_key  bytea NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    file_size    bigint NOT NULL DEFAULT 0,
    digest       bytea,
    uploaded_at  timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT storage_media_pkey PRIMARY KEY (id),
    CONSTRAINT storage_media_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES users (id),
    -- Every media of a creator, uploaded or not, has its own (folder, name). Also the index
    -- of "media a user created".
    CONSTRAINT storage_media_creator_folder_name_key UNIQUE (creator_id, full_path, file_name),
    CONSTRAINT storage_media_storage_key_key UNIQUE (storage_key),
    CONSTRAINT storage_media_id_check CHECK (octet_length(id) = 27),
    CONSTRAINT storage_media_file_name_check
        CHECK (file_name <> '' AND strpos(file_name, '/') = 0 AND octet_length(file_name) <= 255),
    CONSTRAINT storage_media_full_path_check
        CHECK ((full_path = '$' OR full_path LIKE '$/%') AND octet_length(full_path) <= 1024),
    CONSTRAINT storage_media_chunk_size_check CHECK (chunk_size > 0),
    CONSTRAINT storage_media_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT storage_media_file_size_check CHECK (file_size >= 0),
    CONSTRAINT storage_media_digest_check CHECK (octet_length(digest) = 32),
    -- Size, digest and upload time come together: all absent while the upload runs.
    CONSTRAINT storage_media_uploaded_check
        CHECK ((uploaded_at IS NULL) = (digest IS NULL) AND (uploaded_at IS NOT NULL OR file_size = 0))
);
-- Media whose data key is wrapped with another master key (key rotation in batches).
CREATE INDEX storage_media_key_id_idx ON storage_media (key_id, id);

-- Who sees a media: its creator (is_creator) and the users it is shared with. The folder,
-- name and uploaded flag of the media are copied here, and updated in the same transaction
-- as the media, so that "visible media of a user in a folder" is one index range.
CREATE TABLE media_owners (
    media_id   text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    is_creator boolean NOT NULL,
    full_path  text COLLATE "C" NOT NULL,
    file_name  text COLLATE "C" NOT NULL,
    uploaded   boolean NOT NULL,
    created_at timestamptz NOT NULL,
    -- The original's single_share_index: a media is shared with a user at most once.
    CONSTRAINT media_owners_single_share_key PRIMARY KEY (media_id, user_id),
    CONSTRAINT media_owners_media_id_fkey
        FOREIGN KEY (media_id) REFERENCES storage_media (id) ON DELETE CASCADE,
    CONSTRAINT media_owners_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
-- One creator row per media.
CREATE UNIQUE INDEX media_owners_creator_key ON media_owners (media_id) WHERE is_creator;
-- Files of a user directly in a folder, by name then id (folder listing, name conflicts).
CREATE INDEX media_owners_user_folder_idx ON media_owners (user_id, full_path, file_name, media_id)
    WHERE uploaded;
-- Every file of a user, by name then id (list_visible).
CREATE INDEX media_owners_user_name_idx ON media_owners (user_id, file_name, media_id) WHERE uploaded;

-- Recursive totals of the uploaded media a user sees, per folder: the row
-- (user, parent_path, name) counts every file in `parent_path/name` or below it. Each
-- write to media or shares updates the rows of every ancestor folder of the media for
-- every user who sees it, in the same transaction, so listing the subfolders of a folder
-- reads only its immediate children's rows. Deltas are applied with one upsert whose
-- proposed row carries the delta, negative when files leave: a CHECK (file_count >= 0)
-- would be evaluated on that proposed row and refuse every decrement, so there is none;
-- rows that reach zero are deleted in the same transaction.
CREATE TABLE folder_stats (
    user_id     text COLLATE "C" NOT NULL,
    parent_path text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    file_count  bigint NOT NULL,
    total_size  bigint NOT NULL,
    CONSTRAINT folder_stats_pkey PRIMARY KEY (user_id, parent_path, name),
    CONSTRAINT folder_stats_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
