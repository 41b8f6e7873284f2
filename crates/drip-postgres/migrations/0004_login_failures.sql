-- Failed logins and refresh-token guesses, counted per account (normalized username, also
-- for names nobody has) and per client address, so that throttling holds across every
-- node of one database. A key whose last failure is older than the failure window is
-- forgotten (and deleted on the way by the next failure anywhere).
CREATE TABLE login_failures (
    key          text COLLATE "C" NOT NULL,
    failures     bigint NOT NULL,
    last_failure timestamptz NOT NULL,
    CONSTRAINT login_failures_pkey PRIMARY KEY (key),
    CONSTRAINT login_failures_failures_check CHECK (failures > 0)
);
CREATE INDEX login_failures_last_failure_idx ON login_failures (last_failure);
