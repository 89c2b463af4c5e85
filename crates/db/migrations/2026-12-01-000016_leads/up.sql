-- Lead searches and the leads they find (issue 8, docs/leads.md).
--
-- A search is a job worked by `lead-search`: its progress lives here, not in a worker's
-- memory, so a crash resumes from the last stored page. A lease (`worker_id`,
-- `lease_until`) keeps two workers off one search; each page is committed only if the
-- search is still at the offset the worker read, so even a lapsed lease cannot store a
-- page twice.

CREATE TABLE lead_searches (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- A `nudge_domain::LeadQuery`: job titles, companies, locations, keywords.
    query jsonb NOT NULL CHECK (jsonb_typeof(query) = 'object'),
    max_results integer NOT NULL CHECK (max_results BETWEEN 1 AND 1000),
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'waiting', 'completed', 'cancelled', 'failed')),
    -- The provider that works it (set by the worker when it starts).
    provider text,
    -- Where the next page starts, in results (0-based), and the pages stored so far.
    next_offset integer NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    pages_fetched integer NOT NULL DEFAULT 0,
    results_seen integer NOT NULL DEFAULT 0,
    leads_new integer NOT NULL DEFAULT 0,
    duplicates integer NOT NULL DEFAULT 0,
    -- Results that are not a LinkedIn profile (a company page, a post).
    skipped integer NOT NULL DEFAULT 0,
    -- Provider failures met so far (each one retried), and the last one.
    errors integer NOT NULL DEFAULT 0,
    last_error text,
    -- While `waiting`: why, and when the search resumes.
    waiting_reason text,
    resume_at timestamptz,
    worker_id text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    UNIQUE (tenant_id, id)
);
CREATE INDEX lead_searches_tenant_idx ON lead_searches (tenant_id, id DESC);

-- A person found by a search, once per tenant and canonical profile URL.
CREATE TABLE leads (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- `https://www.linkedin.com/in/<slug>`: no locale subdomain, tracking parameters
    -- or trailing slash.
    profile_url text NOT NULL CHECK (profile_url LIKE 'https://www.linkedin.com/in/%'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    headline text,
    company text,
    location text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CONSTRAINT leads_tenant_profile_url_key UNIQUE (tenant_id, profile_url)
);
CREATE INDEX leads_tenant_idx ON leads (tenant_id, id DESC);

-- Which searches found which lead (a lead found again is linked again, not copied).
CREATE TABLE lead_search_leads (
    tenant_id uuid NOT NULL,
    lead_search_id uuid NOT NULL,
    lead_id uuid NOT NULL,
    found_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_search_id, lead_id),
    FOREIGN KEY (tenant_id, lead_search_id) REFERENCES lead_searches (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX lead_search_leads_lead_idx ON lead_search_leads (lead_id);

-- Provider queries spent per day (UTC), per budget: `tenant:<uuid>` and
-- `key:<provider>:<key fingerprint>`. Bookkeeping: not in the change stream.
CREATE TABLE lead_search_budget (
    scope text NOT NULL,
    day date NOT NULL,
    queries integer NOT NULL DEFAULT 0 CHECK (queries >= 0),
    PRIMARY KEY (scope, day)
);

