CREATE TABLE api_key_usage (
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    requests integer NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);
DROP TABLE tenant_request_usage;
DROP INDEX api_keys_tenant_active_idx;
ALTER TABLE api_keys DROP COLUMN scopes, DROP COLUMN expires_at, DROP COLUMN last_used_at;
