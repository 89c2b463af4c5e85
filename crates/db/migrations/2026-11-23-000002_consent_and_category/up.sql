-- SMS consent per customer, with a ledger of every change, and a category per template
-- and message: marketing needs opted_in, transactional needs "not opted out".

ALTER TABLE customers
    ADD COLUMN consent text NOT NULL DEFAULT 'unknown'
        CHECK (consent IN ('opted_in', 'opted_out', 'unknown'));

CREATE TABLE consent_events (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    state text NOT NULL CHECK (state IN ('opted_in', 'opted_out', 'unknown')),
    source text NOT NULL CHECK (source IN ('api', 'keyword', 'import')),
    evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
    at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX consent_events_customer_idx ON consent_events (tenant_id, customer_id, id DESC);

-- Undeclared content is treated as marketing: the stricter rule is the safe default.
ALTER TABLE templates
    ADD COLUMN category text NOT NULL DEFAULT 'marketing'
        CHECK (category IN ('transactional', 'marketing'));

ALTER TABLE messages
    ADD COLUMN category text NOT NULL DEFAULT 'marketing'
        CHECK (category IN ('transactional', 'marketing'));
