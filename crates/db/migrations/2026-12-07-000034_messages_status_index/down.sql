DROP INDEX CONCURRENTLY IF EXISTS messages_tenant_status_idx;
