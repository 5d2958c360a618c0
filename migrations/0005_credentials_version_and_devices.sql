-- Signing in safely: sessions that cannot outlive a password change, and
-- failed logins counted per device.

-- 1. A credentials version per user, raised by every password change.
--
-- A session remembers the version it signed in with (`credentials_version` in
-- its state). A password change raises the version and then deletes the user's
-- other sessions. That delete alone is not enough: a login with the old
-- password that had read the user just before the change, and saves its new
-- session just after the delete, would keep a session signed in with the old
-- password. So the check is made where a signed-in session comes into being,
-- inside the INSERT of its row: a session signs in only under a new key (the
-- store INSERTs it; it never UPDATEs a row into a signed-in one), and this
-- trigger skips the INSERT of any signed-in session whose version is no longer
-- the user's. The browser then holds a key that names no session, which is to
-- say it is signed out.
--
-- `FOR SHARE` makes the check and the password change wait for each other:
-- either the session's INSERT commits first (and the change's later delete
-- removes it), or the change commits first (and the check sees the new
-- version). There is no order in which a stale session survives.
ALTER TABLE users ADD COLUMN credentials_version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION refuse_stale_sign_in() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Generated columns (user_id) are not computed yet in a BEFORE trigger,
    -- so read the state itself.
    PERFORM 1
    FROM users
    WHERE id = (NEW.state ->> 'user_id')::bigint
      AND credentials_version = (NEW.state ->> 'credentials_version')::bigint
    FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;  -- a stale sign-in: store nothing
    END IF;
    RETURN NEW;
END;
$$;

-- Anonymous sessions (no user_id) do not even call the function.
CREATE TRIGGER sessions_refuse_stale_sign_in
    BEFORE INSERT ON sessions
    FOR EACH ROW
    WHEN (NEW.state ? 'user_id')
    EXECUTE FUNCTION refuse_stale_sign_in();

-- 2. Which client failed: the device id of a trusted browser (see
-- src/auth/device.rs), or NULL for an untrusted client. A trusted device is
-- locked out by its own failures only.
ALTER TABLE login_failures ADD COLUMN device text;
