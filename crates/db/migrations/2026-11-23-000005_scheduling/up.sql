-- Scheduled sends: the outbox row becomes available at send_at, so the database is the
-- schedule (it survives restarts, and SKIP LOCKED relays it once among replicas).
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (
    status IN ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled')
);
ALTER TABLE messages ADD COLUMN send_at timestamptz;

-- Which message an outbox row announces, so that relaying it can move the message
-- from scheduled to queued and cancelling can take it back.
ALTER TABLE outbox ADD COLUMN message_id uuid;
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;
