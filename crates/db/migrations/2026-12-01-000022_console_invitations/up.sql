-- Invitations of teammates into a tenant. An owner names an address and a role; the
-- address gets a single-use link (stored as the SHA-256 of its token, as other links)
-- that lets its holder choose a password and join. An invitation ends when it is
-- accepted, revoked or replaced by a newer one for the same address, or when it expires.
CREATE TABLE console_invitations (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    role text NOT NULL CHECK (role IN ('owner', 'marketer', 'care_agent')),
    token_hash text NOT NULL UNIQUE,
    -- Kept when the inviter's account is removed: the invitation stays valid.
    invited_by uuid REFERENCES console_users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at timestamptz,
    CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
-- At most one open invitation per address in a tenant: inviting again replaces it.
CREATE UNIQUE INDEX console_invitations_open_key ON console_invitations (tenant_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
