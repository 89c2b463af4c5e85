-- Limits, per tenant: requests per minute per API key, and messages per UTC day.
-- Sending costs money: a leaked key must not be able to spend without bound.
ALTER TABLE tenants
    ADD COLUMN requests_per_minute integer NOT NULL DEFAULT 600 CHECK (requests_per_minute > 0),
    ADD COLUMN daily_message_cap integer NOT NULL DEFAULT 10000 CHECK (daily_message_cap >= 0);

-- Fixed one-minute windows, shared by every API replica.
CREATE TABLE api_key_usage (
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    requests integer NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);

CREATE INDEX messages_tenant_created_idx ON messages (tenant_id, created_at);
