-- Keys get a name so that a merchant can tell "storefront" from "warehouse".
ALTER TABLE api_keys ADD COLUMN name text NOT NULL DEFAULT 'default'
    CHECK (length(name) BETWEEN 1 AND 100);
