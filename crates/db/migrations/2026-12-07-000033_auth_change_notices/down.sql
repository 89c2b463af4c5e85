DROP TRIGGER tenants_auth_change ON tenants;
DROP TRIGGER api_keys_auth_change ON api_keys;
DROP FUNCTION notify_auth_change();
