-- Sign-in with an OpenID Connect provider (Google by default).
--
-- A sign-in in progress: started when the browser leaves for the provider, spent when
-- it comes back. Keyed by the SHA-256 of its `state` (the browser also holds the state
-- in a cookie, which binds the sign-in to that browser); it keeps the `nonce` the ID
-- token must carry and the PKCE verifier the code exchange must present. Both are
-- short-lived secrets: the table is excluded from the change stream.
CREATE TABLE console_oidc_logins (
    state_hash text PRIMARY KEY,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_oidc_logins_expiry_idx ON console_oidc_logins (expires_at);

-- Which provider identity is which console account. An identity is linked the first
-- time it signs in with a verified address that has an account; afterwards it is
-- found by issuer and subject, whatever its address becomes.
CREATE TABLE console_oidc_identities (
    issuer text NOT NULL,
    subject text NOT NULL,
    user_id uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX console_oidc_identities_user_idx ON console_oidc_identities (user_id);
