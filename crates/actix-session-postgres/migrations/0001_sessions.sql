-- Server-side session data: one row per session.
--
-- The browser holds the session key (inside an encrypted cookie); this table holds
-- only the key's SHA-256 digest, so a copy of the database cannot be replayed as
-- cookies. `state` is the session's data as a JSON object.
CREATE TABLE sessions (
    -- An opaque handle for listing and revoking sessions; never the key.
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash            bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    state               jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- The last time the session was written or its expiry extended.
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    -- Rolling inactivity expiry, never later than absolute_expires_at.
    expires_at          timestamptz NOT NULL,
    -- The hard limit on the session's age.
    absolute_expires_at timestamptz NOT NULL
) WITH (fillfactor = 80);

-- The pruning task finds expired rows through this index.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
