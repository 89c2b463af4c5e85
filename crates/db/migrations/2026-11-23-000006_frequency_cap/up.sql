-- Per shop: at most marketing_cap_count marketing messages per recipient in any
-- marketing_cap_window_hours (0 turns marketing off for the shop).
ALTER TABLE shops
    ADD COLUMN marketing_cap_count integer NOT NULL DEFAULT 3 CHECK (marketing_cap_count BETWEEN 0 AND 1000),
    ADD COLUMN marketing_cap_window_hours integer NOT NULL DEFAULT 24 CHECK (marketing_cap_window_hours BETWEEN 1 AND 720);
CREATE INDEX messages_cap_idx ON messages (tenant_id, shop_id, to_number, category, created_at);
