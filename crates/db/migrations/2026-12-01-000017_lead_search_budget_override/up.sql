-- A tenant's own daily budget of lead-search provider queries; NULL: the worker's
-- LEAD_SEARCH_TENANT_DAILY_QUERIES applies.
ALTER TABLE tenants ADD COLUMN lead_search_daily_queries integer
    CHECK (lead_search_daily_queries >= 0);
