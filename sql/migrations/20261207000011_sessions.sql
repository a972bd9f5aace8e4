-- Staff sessions: the console's cookie and machine clients' bearer tokens. Only a SHA-256 of the
-- token is kept (it is random, 190 bits: no need for a slow hash); a session dies when it is
-- revoked (logout, password change), idle too long, or too old.
CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    staff_id     bigint NOT NULL REFERENCES staff (id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    address      text CHECK (address IS NULL OR length(address) <= 64),
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_staff_idx ON sessions (staff_id) WHERE revoked_at IS NULL;
