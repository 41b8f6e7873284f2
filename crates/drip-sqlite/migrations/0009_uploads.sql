-- Resumable (tus) uploads (decision 0021). An upload goes with its pending media row
-- (ON DELETE CASCADE: a deleted or reclaimed file takes its upload along); its parts do
-- not reference it, so that the upload's expiry job finds every part object to remove,
-- whatever became of the upload. `upload_offset` moves in one conditional UPDATE per
-- committed part; a part's `part_size` is NULL until it is committed.
CREATE TABLE resumable_uploads (
    id            TEXT NOT NULL,
    creator_id    TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    length        INTEGER NOT NULL,
    upload_offset INTEGER NOT NULL DEFAULT 0,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    CONSTRAINT resumable_uploads_pkey PRIMARY KEY (id),
    CONSTRAINT resumable_uploads_media_id_key UNIQUE (media_id),
    CONSTRAINT resumable_uploads_media_id_fkey FOREIGN KEY (media_id) REFERENCES storage_media (id) ON DELETE CASCADE,
    CONSTRAINT resumable_uploads_offset_check CHECK (upload_offset >= 0 AND upload_offset <= length)
) STRICT;

CREATE TABLE upload_parts (
    storage_key  TEXT NOT NULL,
    upload_id    TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    part_size    INTEGER,
    algorithm    TEXT NOT NULL,
    chunk_size   INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    wrapped_key  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    CONSTRAINT upload_parts_pkey PRIMARY KEY (storage_key),
    CONSTRAINT upload_parts_size_check CHECK (part_size IS NULL OR part_size > 0)
) STRICT;
CREATE INDEX upload_parts_upload_id_idx ON upload_parts (upload_id, start_offset);
