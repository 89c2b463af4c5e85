-- Leases on `sending`: which worker claimed a message and until when it answers for it.
-- A worker that finds a message `sending` with an expired lease takes it over and
-- reconciles with the provider (does Twilio already have it?) before sending.
ALTER TABLE messages
    ADD COLUMN claimed_by text,
    ADD COLUMN lease_until timestamptz;
