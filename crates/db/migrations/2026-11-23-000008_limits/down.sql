DROP INDEX messages_tenant_created_idx;
DROP TABLE api_key_usage;
ALTER TABLE tenants DROP COLUMN daily_message_cap, DROP COLUMN requests_per_minute;
