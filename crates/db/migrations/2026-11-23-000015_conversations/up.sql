-- Conversations: a shop's SMS thread with one customer. Inbound messages are stored
-- here; outbound ones stay in `messages` (the thread is both, by shop and phone).
-- Bot rules answer customers; webhook endpoints receive events and care hand-offs.

-- Replies that carriers require (STOP/START/HELP answers) go out whatever the consent.
ALTER TABLE messages DROP CONSTRAINT messages_category_check;
ALTER TABLE messages ADD CONSTRAINT messages_category_check
    CHECK (category IN ('transactional', 'marketing', 'compliance'));
-- Who made an outbound message: the API, a campaign, inbound processing's compliance
-- answers or bot, or a care agent in a conversation.
ALTER TABLE messages ADD COLUMN origin text NOT NULL DEFAULT 'api'
    CHECK (origin IN ('api', 'campaign', 'compliance', 'bot', 'agent'));
UPDATE messages SET origin = 'campaign' WHERE campaign_id IS NOT NULL;

-- A shop's own compliance words (added to Twilio's defaults) and its HELP answer.
ALTER TABLE shops
    ADD COLUMN help_text text CHECK (length(help_text) BETWEEN 1 AND 320),
    ADD COLUMN opt_out_keywords jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(opt_out_keywords) = 'array'),
    ADD COLUMN opt_in_keywords jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(opt_in_keywords) = 'array'),
    ADD COLUMN help_keywords jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(help_keywords) = 'array');

CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    shop_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    phone text NOT NULL,
    -- Set by a hand-off to care; while set, the bot stays quiet and agents answer.
    needs_human boolean NOT NULL DEFAULT false,
    handoff_reason text,
    handed_off_at timestamptz,
    last_inbound_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CONSTRAINT conversations_shop_customer_key UNIQUE (shop_id, customer_id),
    FOREIGN KEY (tenant_id, shop_id) REFERENCES shops (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_tenant_idx ON conversations (tenant_id, id DESC);
CREATE INDEX conversations_needs_human_idx ON conversations (tenant_id, handed_off_at)
    WHERE needs_human;

CREATE TABLE inbound_messages (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    conversation_id uuid NOT NULL,
    -- Twilio's MessageSid: a retried webhook is stored once.
    provider_sid text NOT NULL UNIQUE,
    from_number text NOT NULL,
    to_number text NOT NULL,
    body text NOT NULL,
    num_media integer NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- Set, with the outcome, in the transaction that acts on it (opt-out, reply,
    -- hand-off): a redelivered queue message finds it set and does nothing twice.
    processed_at timestamptz,
    outcome text CHECK (outcome IN ('opted_out', 'opted_in', 'help', 'bot_reply', 'fulfilled', 'handed_off', 'for_agent')),
    outcome_detail jsonb NOT NULL DEFAULT '{}'::jsonb,
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX inbound_messages_conversation_idx ON inbound_messages (conversation_id, received_at, id);

ALTER TABLE messages ADD COLUMN in_reply_to uuid REFERENCES inbound_messages (id) ON DELETE SET NULL;

CREATE TABLE bot_rules (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    shop_id uuid NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The whole message is one of these words ("HOURS").
    keywords jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(keywords) = 'array'),
    -- Phrases whose meaning a message must carry ("where is my order").
    examples jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(examples) = 'array'),
    -- A static answer, or the merchant's endpoint that computes one (signed calls).
    reply text CHECK (length(reply) BETWEEN 1 AND 1600),
    fulfilment_url text,
    fulfilment_secret text,
    -- Lower first when two rules match equally well.
    priority integer NOT NULL DEFAULT 100,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CONSTRAINT bot_rules_shop_name_key UNIQUE (shop_id, name),
    CHECK ((reply IS NULL) <> (fulfilment_url IS NULL)),
    CHECK ((fulfilment_url IS NULL) = (fulfilment_secret IS NULL)),
    CHECK (jsonb_array_length(keywords) + jsonb_array_length(examples) > 0),
    FOREIGN KEY (tenant_id, shop_id) REFERENCES shops (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX bot_rules_shop_idx ON bot_rules (tenant_id, shop_id, priority);

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Null: every shop of the tenant.
    shop_id uuid,
    url text NOT NULL,
    -- Event types, a JSON array of strings: `events ? 'message.sent'` finds subscribers.
    events jsonb NOT NULL CHECK (jsonb_typeof(events) = 'array' AND jsonb_array_length(events) > 0),
    -- The whsec_ signing secret (kept, not hashed: every delivery is signed with it).
    secret text NOT NULL,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, shop_id) REFERENCES shops (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, id DESC);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_type text NOT NULL,
    -- The body as posted (every attempt posts the same bytes).
    payload jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    -- The receiver's HTTP status, or null when there was no answer (see error).
    response_status integer,
    error text,
    duration_ms integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, at);
