-- Resumable (tus) uploads (decision 0021). An upload goes with its pending media row
-- (ON DELETE CASCADE: a deleted or reclaimed file takes its upload along); its parts do
-- not reference it, so that the upload's expiry job finds every part object to remove,
-- whatever became of the upload. `upload_offset` moves in one conditional UPDATE per
-- committed part; a part's `part_size` is NULL until it is committed.
CREATE TABLE resumable_uploads (
    id            text NOT NULL,
    creator_id    text NOT NULL,
    media_id      text NOT NULL,
    length        bigint NOT NULL,
    upload_offset bigint NOT NULL DEFAULT 0,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT resumable_uploads_pkey PRIMARY KEY (id),
    CONSTRAINT resumable_uploads_media_id_key UNIQUE (media_id),
    CONSTRAINT resumable_uploads_media_id_fkey FOREIGN KEY (media_id) REFERENCES storage_media (id) ON DELETE CASCADE,
    CONSTRAINT resumable_uploads_offset_check CHECK (upload_offset >= 0 AND upload_offset <= length)
);

CREATE TABLE upload_parts (
    storage_key  text NOT NULL,
    upload_id    text NOT NULL,
    start_offset bigint NOT NULL,
    part_size    bigint,
    algorithm    text NOT NULL,
    chunk_size   bigint NOT NULL,
    key_id       text NOT NULL,
    wrapped_key  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT upload_parts_pkey PRIMARY KEY (storage_key),
    CONSTRAINT upload_parts_size_check CHECK (part_size IS NULL OR part_size > 0)
);
CREATE INDEX upload_parts_upload_id_idx ON upload_parts (upload_id, start_offset);
