-- Failed logins and refresh-token guesses, counted per account (normalized username, also
-- for names nobody has) and per client address (times in microseconds since the Unix
-- epoch). A key whose last failure is older than the failure window is forgotten (and
-- deleted on the way by the next failure).
CREATE TABLE login_failures (
    key          TEXT NOT NULL PRIMARY KEY,
    failures     INTEGER NOT NULL CHECK (failures > 0),
    last_failure INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_last_failure_idx ON login_failures (last_failure);
