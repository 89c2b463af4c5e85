DELETE FROM consent_events WHERE source = 'provider';
ALTER TABLE consent_events DROP CONSTRAINT consent_events_source_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_source_check
    CHECK (source IN ('api', 'keyword', 'import'));
