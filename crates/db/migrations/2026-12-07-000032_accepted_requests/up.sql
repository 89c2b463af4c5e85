-- A send accepted with an Idempotency-Key remembers the key in the transaction that
-- stores the message. The key's own row (idempotency_keys) is written in a separate
-- transaction after the work. If the database goes away between the two (a restart,
-- a failover), the client gets a 503 and retries with its key, and the send finds
-- its message here instead of storing a second one.
CREATE TABLE accepted_requests (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL,
    -- The middleware's hash of the request: the same key with another request is refused.
    request_hash text NOT NULL,
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

CREATE INDEX accepted_requests_created_at_idx ON accepted_requests (created_at);
CREATE INDEX accepted_requests_message_idx ON accepted_requests (message_id);
