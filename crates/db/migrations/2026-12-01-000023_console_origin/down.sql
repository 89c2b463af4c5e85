ALTER TABLE messages DROP CONSTRAINT messages_origin_check;
ALTER TABLE messages ADD CONSTRAINT messages_origin_check
    CHECK (origin IN ('api', 'campaign', 'compliance', 'bot', 'agent'));
