-- The merchant console's people: accounts distinct from API keys, each in one tenant
-- with a role, signed in with a session cookie. Secrets are stored as hashes only:
-- passwords as argon2id PHC strings, session and email tokens as SHA-256 (they are
-- long random values, for which a fast hash is right, as for API keys).

CREATE TABLE console_users (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Trimmed and lower-cased; one account per address across tenants, so signing in
    -- needs no tenant.
    email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text,
    role text NOT NULL CHECK (role IN ('owner', 'marketer', 'care_agent')),
    email_verified_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX console_users_email_key ON console_users (email);
CREATE INDEX console_users_tenant_idx ON console_users (tenant_id);

CREATE TABLE console_sessions (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The synchronizer token every form of this session carries.
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_user_idx ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at);

-- Single-use links sent by email (for now: confirming the address).
CREATE TABLE console_email_tokens (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    purpose text NOT NULL CHECK (purpose IN ('verify_email')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX console_email_tokens_user_idx ON console_email_tokens (user_id);

-- Outgoing email, written in the transaction that decides to send it and delivered by
-- the API's mailer in the background (retried; never lost with a failed request). The
-- bodies hold single-use links, so they are blanked once the email is sent.
CREATE TABLE console_emails (
    id uuid PRIMARY KEY,
    tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
    to_address text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    provider_message_id text,
    created_at timestamptz NOT NULL,
    sent_at timestamptz
);
CREATE INDEX console_emails_due_idx ON console_emails (next_attempt_at) WHERE status = 'pending';
