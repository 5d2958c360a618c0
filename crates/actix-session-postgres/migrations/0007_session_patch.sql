-- Concurrent requests of one session: each writes only what it changed.
--
-- actix-session hands the store the whole session a handler left behind. Two
-- requests of one session that run at the same time (two tabs, a double click)
-- each loaded the same row; writing each one's whole copy back would let the
-- last writer undo the other. So the store sends a patch instead, and this
-- function applies it to the row as it stands under the UPDATE's lock:
--
--   {"set": {...}, "remove": [...], "add": {...}}
--     set:    names whose value the request set (the last writer wins, per name);
--     remove: names the request removed;
--     add:    counters, by how much the request changed them (concurrent
--             increments add up instead of overwriting each other);
--   {"replace": {...}}
--     a request that cleared the session: its state replaces the stored one.
--
-- A counter whose stored value is not a number counts from 0.
CREATE FUNCTION session_patch(state jsonb, patch jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN patch ? 'replace' THEN patch -> 'replace'
        ELSE (state - ARRAY(SELECT jsonb_array_elements_text(coalesce(patch -> 'remove', '[]'))))
             || coalesce(patch -> 'set', '{}')
             || coalesce((
                    SELECT jsonb_object_agg(
                               added.key,
                               CASE WHEN jsonb_typeof(state -> added.key) = 'number'
                                    THEN (state ->> added.key)::numeric
                                    ELSE 0
                               END + added.value::numeric)
                    FROM jsonb_each_text(patch -> 'add') AS added
                ), '{}')
    END
$$;

-- A read extends a session's expiry now and then (`touch_session`, called from
-- the store's load query). It must never wait for a row another transaction
-- holds: a read would then stall behind a write, and a batch of reads behind
-- one stuck row. A locked row is skipped; the next read extends it.
CREATE OR REPLACE FUNCTION touch_session(session_key_hash bytea, inactivity interval)
RETURNS void
LANGUAGE sql
VOLATILE
AS $$
    UPDATE sessions
    SET last_seen_at = now(),
        expires_at = least(now() + inactivity, absolute_expires_at)
    WHERE key_hash = (
        SELECT key_hash FROM sessions
        WHERE key_hash = session_key_hash AND expires_at > now()
        FOR NO KEY UPDATE SKIP LOCKED
    );
$$;
