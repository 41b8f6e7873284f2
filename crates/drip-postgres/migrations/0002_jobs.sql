-- Durable background jobs (drip_core::jobs): enqueued in the transaction of the change that
-- needs them, claimed with a lease (`FOR UPDATE SKIP LOCKED`, so several nodes claim from
-- one database without blocking each other), removed once they succeed, kept as 'dead'
-- with their last error after too many attempts.
CREATE TABLE jobs (
    id          text COLLATE "C" NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    state       text NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    run_at      timestamptz NOT NULL,
    lease_until timestamptz,
    claim_token text,
    last_error  text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT jobs_pkey PRIMARY KEY (id),
    CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'dead')),
    CONSTRAINT jobs_claim_check CHECK ((state = 'running') = (claim_token IS NOT NULL AND lease_until IS NOT NULL))
);

-- Claimable jobs in claim order: queued by due time, running by due time (their lease is
-- checked on the row).
CREATE INDEX jobs_claim_idx ON jobs (run_at, id) WHERE state <> 'dead';
