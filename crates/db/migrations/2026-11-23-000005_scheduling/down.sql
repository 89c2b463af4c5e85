DROP INDEX outbox_message_idx;
ALTER TABLE outbox DROP COLUMN message_id;
ALTER TABLE messages DROP COLUMN send_at;
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (
    status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed')
);
