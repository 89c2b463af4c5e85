-- Campaign expansion is held back while a tenant has many campaign messages not yet
-- handed to the provider (CAMPAIGN_MAX_UNSENT), so that a huge campaign cannot put
-- more than that many messages ahead of another tenant's single send. Counting them
-- reads only the rows in those states.
CREATE INDEX messages_campaign_unsent_idx ON messages (tenant_id)
    WHERE campaign_id IS NOT NULL AND status IN ('queued', 'sending');
