-- What a key authenticates to (its tenant, scopes, expiry, revocation; the tenant's
-- limits and approval) is cached by each API replica for a few seconds. Every change to
-- it is announced on this channel, with the tenant's id, as the transaction commits, so
-- that each replica drops what it cached of that tenant at once; the cache's lifetime
-- bounds staleness only while a replica's listener is disconnected.
--
-- The trigger's argument names the column that holds the tenant's id.
CREATE FUNCTION notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nudge_auth_changes', to_jsonb(OLD) ->> TG_ARGV[0]);
    RETURN NULL;
END;
$$;

-- `last_used_at` is not among the columns: a key's use must not evict it.
CREATE TRIGGER api_keys_auth_change
    AFTER UPDATE OF tenant_id, key_hash, revoked_at, scopes, expires_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change('tenant_id');

CREATE TRIGGER tenants_auth_change
    AFTER UPDATE OF requests_per_minute, daily_message_cap, approved_at OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change('id');
