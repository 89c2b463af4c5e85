-- A tenant may send through a provider account of its own (a Twilio subaccount) instead
-- of the platform's. The auth token is a secret at rest: it is stored only sealed
-- (AES-256-GCM under a key from configuration, bound to the account SID; see
-- nudge_domain::sealed), never in plain text, and cdc-streamer never streams it.
CREATE TABLE provider_accounts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider text NOT NULL DEFAULT 'twilio' CHECK (provider IN ('twilio')),
    account_sid text NOT NULL UNIQUE CHECK (account_sid ~ '^AC[0-9a-fA-F]{32}$'),
    auth_token_sealed text NOT NULL CHECK (auth_token_sealed LIKE 'v1:%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

-- A number is tied to the account it lives in; NULL: the platform's account. The key
-- makes the database refuse a number in another tenant's account.
ALTER TABLE sender_numbers
    ADD COLUMN account_id uuid,
    ADD CONSTRAINT sender_numbers_account_fkey
        FOREIGN KEY (tenant_id, account_id) REFERENCES provider_accounts (tenant_id, id);
CREATE INDEX sender_numbers_account_idx ON sender_numbers (account_id) WHERE account_id IS NOT NULL;
