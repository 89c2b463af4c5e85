-- Password reset by an emailed 6-digit code. A code is short enough to type, so it is
-- also short-lived (15 minutes) and allows few guesses (5), after which it is spent.
-- Stored as a SHA-256 of the account and the code, never in clear.
CREATE TABLE console_reset_codes (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    used_at timestamptz
);
CREATE INDEX console_reset_codes_user_idx ON console_reset_codes (user_id, created_at DESC);
