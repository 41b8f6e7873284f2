-- The trash (issue 14, decision 0019): a deleted media keeps its row, marked with when it
-- was trashed and when the purge job removes it (both set or both absent, only on an
-- uploaded media). A trashed media is visible to no query but its creator's trash
-- (`media_owners.uploaded` is cleared while it is trashed, so every listing, the folder
-- statistics and the shares skip it) and it claims no (creator, folder, name): the unique
-- constraint becomes a partial unique index of the same name over the rows not in the
-- trash (PostgreSQL reports a unique index's violation under the index's name).
ALTER TABLE storage_media
    ADD COLUMN trashed_at timestamptz,
    ADD COLUMN purge_at timestamptz,
    ADD CONSTRAINT storage_media_trashed_check
        CHECK ((trashed_at IS NULL) = (purge_at IS NULL) AND (trashed_at IS NULL OR uploaded_at IS NOT NULL));

ALTER TABLE storage_media DROP CONSTRAINT storage_media_creator_folder_name_key;
CREATE UNIQUE INDEX storage_media_creator_folder_name_key ON storage_media (creator_id, full_path, file_name)
    WHERE trashed_at IS NULL;
-- The media a user created (account closing), which the partial index above no longer serves.
CREATE INDEX storage_media_creator_idx ON storage_media (creator_id, id);
-- A creator's trash by name then id.
CREATE INDEX storage_media_trash_idx ON storage_media (creator_id, file_name, id) WHERE trashed_at IS NOT NULL;
