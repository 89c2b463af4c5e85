-- The provider can tell us a recipient is unsubscribed (Twilio error 21610: they texted
-- STOP to the sender number). That opt-out goes into the ledger with its own source.
ALTER TABLE consent_events DROP CONSTRAINT consent_events_source_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_source_check
    CHECK (source IN ('api', 'keyword', 'import', 'provider'));
