-- Durable background jobs (drip_core::jobs): enqueued in the transaction of the change that
-- needs them, claimed with a lease in a write transaction, removed once they succeed, kept
-- as 'dead' with their last error after too many attempts. Times are microseconds since
-- the Unix epoch, the payload is JSON text.
CREATE TABLE jobs (
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_at      INTEGER NOT NULL,
    lease_until INTEGER,
    claim_token TEXT,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    CONSTRAINT jobs_pkey PRIMARY KEY (id),
    CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'dead')),
    CONSTRAINT jobs_claim_check CHECK ((state = 'running') = (claim_token IS NOT NULL AND lease_until IS NOT NULL))
) STRICT;

-- Claimable jobs in claim order.
CREATE INDEX jobs_claim_idx ON jobs (run_at, id) WHERE state <> 'dead';
