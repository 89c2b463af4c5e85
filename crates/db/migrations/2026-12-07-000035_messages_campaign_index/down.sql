DROP INDEX CONCURRENTLY IF EXISTS messages_tenant_campaign_idx;
