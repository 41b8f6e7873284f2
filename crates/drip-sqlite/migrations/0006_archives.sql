-- Prepared folder archives (drip_core::archives): one row per request, seen by its owner
-- only, gone with them. A pending row records the object key of its current build attempt
-- (`storage_key`), a ready one the key, envelope, size, digest and entry count of its ZIP,
-- a failed one its reason. `attempt_until` is how long the current attempt holds the archive
-- (its node renews it while it builds; another attempt may start once it lapsed). Times are microseconds since the Unix epoch. Sizes and counts
-- are 0 until ready (the ready check says so).
CREATE TABLE archives (
    id          TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    folder      TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    storage_key TEXT,
    attempt_until INTEGER,
    algorithm   TEXT,
    chunk_size  INTEGER NOT NULL DEFAULT 0,
    key_id      TEXT,
    wrapped_key BLOB,
    size        INTEGER NOT NULL DEFAULT 0,
    digest      BLOB,
    files       INTEGER NOT NULL DEFAULT 0,
    ready_at    INTEGER,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    CONSTRAINT archives_pkey PRIMARY KEY (id),
    CONSTRAINT archives_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT archives_id_check CHECK (length(id) = 27),
    CONSTRAINT archives_status_check CHECK (status IN ('pending', 'ready', 'failed')),
    CONSTRAINT archives_folder_check
        CHECK ((folder = '$' OR substr(folder, 1, 2) = '$/') AND length(CAST(folder AS BLOB)) <= 1024),
    CONSTRAINT archives_ready_check CHECK ((status = 'ready') = (ready_at IS NOT NULL)
        AND (status <> 'ready' OR (storage_key IS NOT NULL AND algorithm IS NOT NULL AND key_id IS NOT NULL
            AND wrapped_key IS NOT NULL AND length(digest) = 32 AND chunk_size > 0))),
    CONSTRAINT archives_failed_check CHECK ((status = 'failed') = (reason IS NOT NULL)),
    CONSTRAINT archives_size_check CHECK (size >= 0 AND files >= 0)
) STRICT;
-- An owner's archives, newest first.
CREATE INDEX archives_owner_idx ON archives (owner_id, created_at, id);
