-- Token buckets for the sender's throughput limits, shared by every sender replica:
-- one per sender number and one per provider account. Tokens are message segments;
-- a bucket may go below zero (a long message borrows from the next seconds).
CREATE TABLE send_rate_buckets (
    key text PRIMARY KEY,
    tokens double precision NOT NULL,
    refilled_at timestamptz NOT NULL
);
