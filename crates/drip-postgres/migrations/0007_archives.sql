-- Prepared folder archives (drip_core::archives): one row per request, seen by its owner
-- only, gone with them. A pending row records the object key of its current build attempt
-- (`storage_key`), a ready one the key, envelope, size, digest and entry count of its ZIP,
-- a failed one its reason. `attempt_until` is how long the current attempt holds the archive
-- (its node renews it while it builds; another attempt may start once it lapsed). Sizes and counts are 0 until ready (the ready check says so).
CREATE TABLE archives (
    id          text COLLATE "C" NOT NULL,
    owner_id    text COLLATE "C" NOT NULL,
    folder      text COLLATE "C" NOT NULL,
    status      text NOT NULL,
    reason      text,
    storage_key text COLLATE "C",
    attempt_until timestamptz,
    algorithm   text,
    chunk_size  bigint NOT NULL DEFAULT 0,
    key_id      text COLLATE "C",
    wrapped_key bytea,
    size        bigint NOT NULL DEFAULT 0,
    digest      bytea,
    files       bigint NOT NULL DEFAULT 0,
    ready_at    timestamptz,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CONSTRAINT archives_pkey PRIMARY KEY (id),
    CONSTRAINT archives_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT archives_id_check CHECK (octet_length(id) = 27),
    CONSTRAINT archives_status_check CHECK (status IN ('pending', 'ready', 'failed')),
    CONSTRAINT archives_folder_check
        CHECK ((folder = '$' OR folder LIKE '$/%') AND octet_length(folder) <= 1024),
    CONSTRAINT archives_ready_check CHECK ((status = 'ready') = (ready_at IS NOT NULL)
        AND (status <> 'ready' OR (storage_key IS NOT NULL AND algorithm IS NOT NULL AND key_id IS NOT NULL
            AND wrapped_key IS NOT NULL AND octet_length(digest) = 32 AND chunk_size > 0))),
    CONSTRAINT archives_failed_check CHECK ((status = 'failed') = (reason IS NOT NULL)),
    CONSTRAINT archives_size_check CHECK (size >= 0 AND files >= 0)
);
-- An owner's archives, newest first.
CREATE INDEX archives_owner_idx ON archives (owner_id, created_at, id);
