-- pgbench "counter limit": what a counter request (GET / with a session) asks
-- of PostgreSQL, without the app: one SELECT of a session row, then one UPDATE
-- of its data and expiry. No BEGIN/END: each statement is its own transaction,
-- as in the app. Run with -M prepared, like sqlx's cached prepared statements.
--
-- This is the limit as the benchmark defines it. The app's UPDATE does less: it
-- leaves expires_at alone (the load extends it when due, see
-- PgSessionStore::update), so PostgreSQL can do it as a HOT update; here every
-- UPDATE moves expires_at, an indexed column.
--
-- Rows are picked by `id`, the primary key, not by `key_hash` as the store does:
-- pgbench variables are integers, and turning one into a bytea key would need an
-- extra lookup (a join or a \gset query) that the real request does not do. Both
-- are a single probe of a unique btree index over the same rows, so the cost is
-- the same. bench.sh checks that the 2,000 sessions have contiguous ids
-- min_id..max_id. ttl is SESSION_TTL_SECONDS as an interval.
\set id random(:min_id, :max_id)
\set visits random(2, 1000000)
SELECT state::text FROM sessions WHERE id = :id AND expires_at > now();
UPDATE sessions
SET state = ('{"visits": ' || :visits || '}')::jsonb,
    last_seen_at = now(),
    expires_at = least(now() + :ttl::interval, absolute_expires_at)
WHERE id = :id AND expires_at > now();
