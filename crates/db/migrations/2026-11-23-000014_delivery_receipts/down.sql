DROP TABLE provider_callbacks;
UPDATE messages SET status = 'delivered' WHERE status = 'read';
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (
    status IN ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled')
);
