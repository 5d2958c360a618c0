-- Accounts, and the link from a session to the user signed in with it.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{3,32}$'),
    -- An Argon2id hash in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Usernames are unique whatever their case: "Alice" and "alice" are one account.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

-- The session store writes only `state`; these columns are derived from it by
-- PostgreSQL, so the store stays generic while sessions are still findable by
-- user (to list and revoke them). Deleting a user ends their sessions.
ALTER TABLE sessions
    ADD COLUMN user_id bigint
        GENERATED ALWAYS AS ((state ->> 'user_id')::bigint) STORED
        REFERENCES users (id) ON DELETE CASCADE,
    ADD COLUMN user_agent text
        GENERATED ALWAYS AS (state ->> 'user_agent') STORED;

CREATE INDEX sessions_user_id_idx ON sessions (user_id) WHERE user_id IS NOT NULL;

-- Failed logins, counted per username over a sliding window to lock out
-- password guessing. Kept in the database so every app process sees them.
CREATE TABLE login_failures (
    username_key text NOT NULL,          -- lower(username), whether or not the user exists
    failed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_time_idx ON login_failures (username_key, failed_at);
