-- pgbench "single-SELECT limit": the read of a session alone, one statement,
-- one transaction (what GET /visits with a session needs). See limit-counter.sql
-- for why rows are picked by id.
\set id random(:min_id, :max_id)
SELECT state::text FROM sessions WHERE id = :id AND expires_at > now();
