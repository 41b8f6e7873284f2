-- The trash (issue 14, decision 0019): a deleted media keeps its row, marked with when it
-- was trashed and when the purge job removes it (both set or both absent, only on an
-- uploaded media). A trashed media is visible to no query but its creator's trash
-- (`media_owners.uploaded` is cleared while it is trashed, so every listing, the folder
-- statistics and the shares skip it) and it claims no (creator, folder, name): the unique
-- constraint becomes a partial unique index over the rows not in the trash.
--
-- SQLite cannot drop a table constraint, so storage_media is rebuilt. Its foreign keys
-- stay enforced (a migration runs in one transaction, where PRAGMA foreign_keys cannot
-- change), so dropping the old table deletes the rows that reference it (media_owners and
-- public_links, ON DELETE CASCADE): they are kept aside in temporary tables and put back
-- once the new table has taken the old one's name. All of it commits or none of it does.

CREATE TEMP TABLE trash_migration_owners AS SELECT * FROM media_owners;
CREATE TEMP TABLE trash_migration_links AS SELECT * FROM public_links;

CREATE TABLE storage_media_rebuilt (
    id           TEXT NOT NULL,
    creator_id   TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    full_path    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    storage_key  TEXT NOT NULL,
    algorithm    TEXT NOT NULL,
    chunk_size   INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    wrapped_key  BLOB NOT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}',
    file_size    INTEGER NOT NULL DEFAULT 0,
    digest       BLOB,
    uploaded_at  INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    lease_until  INTEGER,
    reserved_bytes INTEGER NOT NULL DEFAULT 0
        CONSTRAINT storage_media_reserved_bytes_check CHECK (reserved_bytes >= 0),
    trashed_at   INTEGER,
    purge_at     INTEGER,
    CONSTRAINT storage_media_pkey PRIMARY KEY (id),
    CONSTRAINT storage_media_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES users (id),
    CONSTRAINT storage_media_storage_key_key UNIQUE (storage_key),
    CONSTRAINT storage_media_id_check CHECK (length(id) = 27),
    CONSTRAINT storage_media_file_name_check
        CHECK (file_name <> '' AND instr(file_name, '/') = 0 AND length(CAST(file_name AS BLOB)) <= 255),
    CONSTRAINT storage_media_full_path_check
        CHECK ((full_path = '$' OR substr(full_path, 1, 2) = '$/') AND length(CAST(full_path AS BLOB)) <= 1024),
    CONSTRAINT storage_media_chunk_size_check CHECK (chunk_size > 0),
    CONSTRAINT storage_media_metadata_check CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    CONSTRAINT storage_media_file_size_check CHECK (file_size >= 0),
    CONSTRAINT storage_media_digest_check CHECK (length(digest) = 32),
    CONSTRAINT storage_media_uploaded_check
        CHECK ((uploaded_at IS NULL) = (digest IS NULL) AND (uploaded_at IS NOT NULL OR file_size = 0)),
    -- Only an uploaded media goes to the trash, with both of its times.
    CONSTRAINT storage_media_trashed_check
        CHECK ((trashed_at IS NULL) = (purge_at IS NULL) AND (trashed_at IS NULL OR uploaded_at IS NOT NULL))
) STRICT;

INSERT INTO storage_media_rebuilt (id, creator_id, file_name, full_path, content_type, storage_key, algorithm,
        chunk_size, key_id, wrapped_key, metadata, file_size, digest, uploaded_at, created_at, updated_at,
        lease_until, reserved_bytes)
    SELECT id, creator_id, file_name, full_path, content_type, storage_key, algorithm, chunk_size, key_id,
        wrapped_key, metadata, file_size, digest, uploaded_at, created_at, updated_at, lease_until,
        reserved_bytes
    FROM storage_media;

DROP TABLE storage_media;
ALTER TABLE storage_media_rebuilt RENAME TO storage_media;

INSERT INTO media_owners SELECT * FROM trash_migration_owners;
INSERT INTO public_links SELECT * FROM trash_migration_links;
DROP TABLE trash_migration_owners;
DROP TABLE trash_migration_links;

-- The indexes of the old table (0001, 0003).
CREATE INDEX storage_media_key_id_idx ON storage_media (key_id, id);
CREATE INDEX storage_media_pending_idx ON storage_media (id) WHERE uploaded_at IS NULL;
-- Every media of a creator outside the trash, uploaded or not, has its own (folder, name);
-- trashed ones claim none. SQLite reports a violation by its columns, as it did for the
-- constraint of the same name (src/error.rs).
CREATE UNIQUE INDEX storage_media_creator_folder_name_key ON storage_media (creator_id, full_path, file_name)
    WHERE trashed_at IS NULL;
-- The media a user created (account closing), which the partial index above no longer serves.
CREATE INDEX storage_media_creator_idx ON storage_media (creator_id, id);
-- A creator's trash by name then id.
CREATE INDEX storage_media_trash_idx ON storage_media (creator_id, file_name, id) WHERE trashed_at IS NOT NULL;
