-- New tenants start in a sandbox, as Twilio trial accounts do: until an operator
-- approves them (`admin tenants approve`) they text only numbers they have verified
-- with a code, at most 50 a day. Tenants that existed before this migration were
-- created by an operator and keep sending as they did: they count as approved.
ALTER TABLE tenants
    ADD COLUMN approved_at timestamptz,
    -- Country calling codes the tenant may text (`1`, `44`...); NULL: the codes of its
    -- own sender numbers.
    ADD COLUMN destination_calling_codes text[]
        CHECK (destination_calling_codes IS NULL OR cardinality(destination_calling_codes) <= 300);
UPDATE tenants SET approved_at = created_at;

-- Numbers a tenant has proven it may text. The proof runs backwards, so that it sends
-- nothing and costs nothing: the tenant asks for a code, and the person holding the
-- number texts that code to one of the tenant's numbers; the inbound text, from that
-- number, proves it.
CREATE TABLE verified_numbers (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    phone text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    -- SHA-256 of the tenant, the phone and the code; NULL once verified.
    code_hash text,
    code_expires_at timestamptz,
    code_issued_at timestamptz,
    verified_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, phone)
);
