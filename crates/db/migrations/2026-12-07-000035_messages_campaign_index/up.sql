-- The message log of one campaign (`GET /v1/messages?campaign_id=`), newest first: an
-- old or small campaign in a log of millions is a short index range. Only campaign
-- messages are in it. CONCURRENTLY, as the status index before it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_tenant_campaign_idx
    ON messages (tenant_id, campaign_id, id DESC) WHERE campaign_id IS NOT NULL;
