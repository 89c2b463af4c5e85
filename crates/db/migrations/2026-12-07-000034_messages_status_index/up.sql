-- The message log filtered by status (`GET /v1/messages?status=failed`), newest first,
-- without reading the statuses it does not want: a rare status in a log of millions is
-- a short index range. CONCURRENTLY, so that a live table keeps taking writes while
-- it is built (hence one statement, outside a transaction: metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_tenant_status_idx
    ON messages (tenant_id, status, id DESC);
