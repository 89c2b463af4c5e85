DROP INDEX customers_shop_idx;
DROP INDEX messages_campaign_customer_key;
ALTER TABLE messages DROP CONSTRAINT messages_campaign_fkey;
ALTER TABLE messages DROP COLUMN campaign_id;
DROP TABLE campaigns;
