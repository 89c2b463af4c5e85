-- Delivery receipts: the provider's status callbacks, each kept once, matched to its
-- message by the provider's sid (or kept unmatched until the sid is known).

ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (
    status IN ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'read', 'failed', 'cancelled')
);

CREATE TABLE provider_callbacks (
    id uuid PRIMARY KEY,
    provider_sid text NOT NULL,
    provider_status text NOT NULL,
    -- Twilio's I-Twilio-Idempotency-Token: the same on every retry of one callback.
    idempotency_token text,
    error_code integer,
    -- The callback's parameters as posted (Twilio sends no secrets in them).
    params jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- Null until the message with this sid is known (a callback can beat the sender's
    -- write of the sid); then the message's tenant and id.
    tenant_id uuid,
    message_id uuid REFERENCES messages (id) ON DELETE CASCADE,
    -- Whether it moved the message's status (false: late, or a repeat in other words).
    applied boolean NOT NULL DEFAULT false,
    CHECK ((tenant_id IS NULL) = (message_id IS NULL))
);
-- One callback per sid and status: Twilio's retries and repeats are ignored.
CREATE UNIQUE INDEX provider_callbacks_sid_status_key ON provider_callbacks (provider_sid, provider_status);
CREATE UNIQUE INDEX provider_callbacks_token_key ON provider_callbacks (idempotency_token)
    WHERE idempotency_token IS NOT NULL;
CREATE INDEX provider_callbacks_unmatched_idx ON provider_callbacks (provider_sid)
    WHERE message_id IS NULL;
