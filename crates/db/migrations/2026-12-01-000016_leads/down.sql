DROP TABLE lead_search_budget;
DROP TABLE lead_search_leads;
DROP TABLE leads;
DROP TABLE lead_searches;
