ALTER TABLE tenants DROP COLUMN lead_search_daily_queries;
