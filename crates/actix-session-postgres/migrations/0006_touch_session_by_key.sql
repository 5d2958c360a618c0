-- The session store addresses every row by its key digest (`key_hash`), never
-- by `id`: the key is all a request knows, and a table reached by one key can
-- be split across servers by that key (docs/scaling.md). `touch_session`
-- (0004_touch_session.sql) was the one exception; this version finds its row the same way.
--
-- The version taking an id stays: during a rolling deploy, instances still
-- running the previous release call it until they are restarted.
CREATE FUNCTION touch_session(session_key_hash bytea, inactivity interval)
RETURNS void
LANGUAGE sql
VOLATILE
AS $$
    UPDATE sessions
    SET last_seen_at = now(),
        expires_at = least(now() + inactivity, absolute_expires_at)
    WHERE key_hash = session_key_hash AND expires_at > now();
$$;
