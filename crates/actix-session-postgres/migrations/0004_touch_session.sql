-- Extending a session's expiry from inside the store's load query.
--
-- A read of a session is activity, so now and then it must push the session's
-- inactivity expiry forward. The store's load is one SELECT; it calls this
-- function only for a row whose last extension is older than the touch
-- interval (a CASE in the query), so an ordinary read modifies nothing and
-- PostgreSQL treats it as a plain read, yet the occasional extension needs no
-- second round trip.
CREATE FUNCTION touch_session(session_id bigint, inactivity interval)
RETURNS void
LANGUAGE sql
VOLATILE
AS $$
    UPDATE sessions
    SET last_seen_at = now(),
        expires_at = least(now() + inactivity, absolute_expires_at)
    WHERE id = session_id AND expires_at > now();
$$;
