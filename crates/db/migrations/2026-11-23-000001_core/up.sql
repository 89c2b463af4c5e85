-- Nudge's core tables. Every row that belongs to a merchant carries tenant_id, and
-- children reference their parent through (tenant_id, id) so that the database itself
-- refuses a row that points into another tenant.

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each key is stored; the prefix lets a merchant tell keys apart.
CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE shops (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    name text NOT NULL,
    sender_number text NOT NULL,
    time_zone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE customers (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    shop_id uuid NOT NULL,
    phone text NOT NULL,
    name text,
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CONSTRAINT customers_shop_phone_key UNIQUE (shop_id, phone),
    FOREIGN KEY (tenant_id, shop_id) REFERENCES shops (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customers_tenant_idx ON customers (tenant_id, id DESC);

CREATE TABLE templates (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    name text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CONSTRAINT templates_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE messages (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    shop_id uuid NOT NULL,
    customer_id uuid REFERENCES customers (id) ON DELETE SET NULL,
    template_id uuid REFERENCES templates (id) ON DELETE SET NULL,
    to_number text NOT NULL,
    from_number text NOT NULL,
    body text NOT NULL,
    segments integer NOT NULL CHECK (segments >= 1),
    encoding text NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    status text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed')),
    provider_sid text,
    error_code integer,
    error_message text,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    -- A shop with a message log is not deleted from under it (RESTRICT).
    FOREIGN KEY (tenant_id, shop_id) REFERENCES shops (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX messages_tenant_idx ON messages (tenant_id, id DESC);
CREATE INDEX messages_tenant_shop_idx ON messages (tenant_id, shop_id, id DESC);
CREATE INDEX messages_tenant_to_idx ON messages (tenant_id, to_number, id DESC);
CREATE UNIQUE INDEX messages_provider_sid_key ON messages (provider_sid) WHERE provider_sid IS NOT NULL;

CREATE TABLE message_events (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    event_type text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX message_events_message_idx ON message_events (message_id, at, id);

-- The transactional outbox: written in the same transaction as the row it announces,
-- relayed to SQS by the API, deleted only once SQS has the message.
CREATE TABLE outbox (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    queue text NOT NULL,
    message_type text NOT NULL,
    body jsonb NOT NULL,
    traceparent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    available_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_available_idx ON outbox (available_at, id);

-- Queue messages a worker could never process (unparseable, unknown type, unknown
-- message), recorded before SQS moves them to the dead-letter queue.
CREATE TABLE queue_rejections (
    id uuid PRIMARY KEY,
    queue text NOT NULL,
    sqs_message_id text NOT NULL,
    reason text NOT NULL,
    body_excerpt text NOT NULL,
    receive_count integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
