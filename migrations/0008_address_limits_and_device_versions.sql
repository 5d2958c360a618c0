-- Limits every instance shares, and device cookies that can be revoked.

-- 1. Per-address limits on sign-in and sign-up attempts, one row per
-- (bucket, client address), counted by every app process alike (see
-- src/limits.rs). Each row is a GCRA bucket in one timestamp: `refilled_at`
-- is when the address's allowance is whole again. Every attempt pushes it one
-- refill interval later; an attempt that would push it more than `burst`
-- intervals past now() is refused, and waits until it would not. A row whose
-- `refilled_at` has passed says nothing a missing row would not, so the
-- pruning task deletes it.
CREATE TABLE address_limits (
    bucket      text        NOT NULL,  -- which limit: 'login', 'register'
    address     inet        NOT NULL,  -- the client (an IPv6 client by its /64)
    refilled_at timestamptz NOT NULL,
    PRIMARY KEY (bucket, address)
);
CREATE INDEX address_limits_refilled_at_idx ON address_limits (refilled_at);

-- 2. Device cookies carry the user's devices version (src/auth/device.rs): a
-- cookie sealed under an older version is untrusted. "Forget all trusted
-- devices" on the account page raises it.
ALTER TABLE users ADD COLUMN devices_version bigint NOT NULL DEFAULT 1;
