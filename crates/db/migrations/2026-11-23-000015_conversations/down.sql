DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE bot_rules;
ALTER TABLE messages DROP COLUMN in_reply_to;
DROP TABLE inbound_messages;
DROP TABLE conversations;
ALTER TABLE shops
    DROP COLUMN help_text,
    DROP COLUMN opt_out_keywords,
    DROP COLUMN opt_in_keywords,
    DROP COLUMN help_keywords;
ALTER TABLE messages DROP COLUMN origin;
DELETE FROM messages WHERE category = 'compliance';
ALTER TABLE messages DROP CONSTRAINT messages_category_check;
ALTER TABLE messages ADD CONSTRAINT messages_category_check
    CHECK (category IN ('transactional', 'marketing'));
