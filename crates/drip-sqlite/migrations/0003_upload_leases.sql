-- Upload leases: a pending media (uploaded_at NULL) holds its name while its node renews
-- the lease (microseconds since the Unix epoch); a pending row whose lease lapsed, or that
-- has none (rows from before this migration, a node that died before renewing), is
-- abandoned and reclaimed.
ALTER TABLE storage_media ADD COLUMN lease_until INTEGER;

-- Abandoned uploads are found among the pending rows only.
CREATE INDEX storage_media_pending_idx ON storage_media (id) WHERE uploaded_at IS NULL;
