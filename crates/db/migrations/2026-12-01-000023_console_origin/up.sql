-- Messages a person sends from the console (not through an API key) say so. The new
-- check is added NOT VALID and validated apart, so that the table is not locked
-- against writes while its rows are checked.
ALTER TABLE messages DROP CONSTRAINT messages_origin_check;
ALTER TABLE messages ADD CONSTRAINT messages_origin_check
    CHECK (origin IN ('api', 'campaign', 'compliance', 'bot', 'agent', 'console')) NOT VALID;
ALTER TABLE messages VALIDATE CONSTRAINT messages_origin_check;
