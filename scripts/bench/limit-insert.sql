-- pgbench "single-INSERT limit": the store's save of a new session (what a first
-- visit needs), one statement, one transaction. The app computes the key's
-- SHA-256 itself; here PostgreSQL hashes random text (pgcrypto's
-- gen_random_bytes is not assumed to be installed). ttl and absolute are
-- SESSION_TTL_SECONDS and SESSION_ABSOLUTE_TTL_SECONDS as intervals.
INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
VALUES (sha256(convert_to(random()::text || ':' || :client_id, 'UTF8')),
        '{"visits": 1}'::jsonb,
        now() + least(:ttl::interval, :absolute::interval),
        now() + :absolute::interval);
