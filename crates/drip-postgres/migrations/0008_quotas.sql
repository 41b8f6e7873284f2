-- Quotas (decision 0020). `quota_bytes` is a user's own limit (NULL: the configured
-- default; 9223372036854775807: no limit). `reserved_bytes` holds what uploads under way
-- have reserved: the user's total, and each pending media's share of it, changed in the
-- same transaction. A user's stored bytes (`disk_usage`, the trash included) plus
-- `reserved_bytes` never pass the quota: a reservation is one conditional UPDATE, which
-- re-reads the row it waited for.
ALTER TABLE users ADD COLUMN quota_bytes bigint
    CONSTRAINT users_quota_bytes_check CHECK (quota_bytes >= 0);
ALTER TABLE users ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0
    CONSTRAINT users_reserved_bytes_check CHECK (reserved_bytes >= 0);
ALTER TABLE storage_media ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0
    CONSTRAINT storage_media_reserved_bytes_check CHECK (reserved_bytes >= 0);
