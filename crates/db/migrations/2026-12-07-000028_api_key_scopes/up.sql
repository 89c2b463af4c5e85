-- API keys get scopes, an optional expiry and their last use; the request limit counts
-- per tenant, whatever the number of keys (minting keys no longer multiplies it).
--
-- Scopes: `send` (messages, campaigns, conversations, customers and their consent, lead
-- searches), `read` (every GET), `manage` (shops, templates, bot rules, webhook
-- endpoints, API keys). Existing keys keep what they could do: all three.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT ARRAY['send', 'read', 'manage']
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['send', 'read', 'manage']),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz;
-- Counting active keys per tenant (the cap) reads this.
CREATE INDEX api_keys_tenant_active_idx ON api_keys (tenant_id) WHERE revoked_at IS NULL;

-- Fixed one-minute windows per tenant, shared by every API replica. Unlogged, as the
-- throughput buckets are: after a crash of the server the window starts empty, which
-- costs at most one minute's allowance, and a request does not wait for a disk flush.
CREATE UNLOGGED TABLE tenant_request_usage (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    requests integer NOT NULL,
    PRIMARY KEY (tenant_id, window_start)
);
DROP TABLE api_key_usage;
