-- Campaigns: one template sent to a segment of a shop's customers. A campaign is
-- expanded into messages in the background, a page of customers per transaction: the
-- page's messages, their outbox rows and the campaign's cursor and counters commit
-- together, so a crash repeats at most a page that left no trace, and the unique
-- (campaign_id, customer_id) index makes a customer's message impossible to create twice.
CREATE TABLE campaigns (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    shop_id uuid NOT NULL,
    template_id uuid NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category text NOT NULL CHECK (category IN ('transactional', 'marketing')),
    -- {"attributes": {...} (jsonb containment), "consent": ["opted_in", ...]}
    segment jsonb NOT NULL,
    -- Template data shared by every recipient (each also gets `customer`).
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    send_at timestamptz,
    status text NOT NULL CHECK (status IN ('expanding', 'expanded', 'cancelled')),
    -- The last customer id expanded: the next page starts after it.
    cursor uuid,
    -- The expander takes the campaign again from this time (daily cap reached: tomorrow).
    available_at timestamptz NOT NULL DEFAULT now(),
    waiting_reason text,
    audience_estimate integer NOT NULL,
    recipients integer NOT NULL DEFAULT 0,
    queued integer NOT NULL DEFAULT 0,
    scheduled integer NOT NULL DEFAULT 0,
    -- {"opted_out": n, "consent_required": n, "frequency_cap": n, ...}
    skipped jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expanded_at timestamptz,
    cancelled_at timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, shop_id) REFERENCES shops (tenant_id, id) ON DELETE RESTRICT,
    FOREIGN KEY (tenant_id, template_id) REFERENCES templates (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX campaigns_tenant_idx ON campaigns (tenant_id, id DESC);
CREATE INDEX campaigns_expanding_idx ON campaigns (available_at) WHERE status = 'expanding';

ALTER TABLE messages ADD COLUMN campaign_id uuid;
ALTER TABLE messages ADD CONSTRAINT messages_campaign_fkey
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE RESTRICT;
CREATE UNIQUE INDEX messages_campaign_customer_key ON messages (campaign_id, customer_id)
    WHERE campaign_id IS NOT NULL;

-- Segments filter customers by shop and attributes (containment) in id order.
CREATE INDEX customers_shop_idx ON customers (shop_id, id);
