-- Sender numbers are owned, never declared. Before this migration a shop named any
-- E.164 number as its `sender_number`, so a tenant could send as another merchant and
-- receive its customers' replies and STOPs. Now each number belongs to exactly one
-- tenant (unique across Nudge), is added by an operator (`messaging-api admin numbers
-- add`), and a shop may use only its own tenant's numbers: the foreign key below makes
-- the database refuse anything else.
CREATE TABLE sender_numbers (
    number text PRIMARY KEY CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, number)
);

-- Existing databases: each number shops already use goes to the tenant whose shop used
-- it first (the oldest shop with it; ties by shop id). That is the merchant who had it
-- before anyone could copy it.
INSERT INTO sender_numbers (number, tenant_id, created_at)
SELECT DISTINCT ON (sender_number) sender_number, tenant_id, created_at
FROM shops
ORDER BY sender_number, created_at, id;

-- Another tenant's shops that used the same number lose it: their sender_number becomes
-- NULL, and such a shop can send nothing until it is given one of its own tenant's
-- numbers (the API answers 422 naming the shop). Messages such a shop still had waiting
-- (queued or scheduled) are cancelled with the reason in their timeline, so that nothing
-- more goes out from a number the tenant does not own.
ALTER TABLE shops ALTER COLUMN sender_number DROP NOT NULL;

CREATE TEMPORARY TABLE lost_numbers ON COMMIT DROP AS
SELECT s.id AS shop_id, s.tenant_id
FROM shops s
JOIN sender_numbers n ON n.number = s.sender_number
WHERE n.tenant_id <> s.tenant_id;

WITH cancelled AS (
    UPDATE messages m
    SET status = 'cancelled',
        error_message = 'the sender number belongs to another tenant',
        updated_at = now()
    FROM lost_numbers l
    WHERE m.tenant_id = l.tenant_id AND m.shop_id = l.shop_id
      AND m.status IN ('queued', 'scheduled')
    RETURNING m.id, m.tenant_id, m.status
)
INSERT INTO message_events (id, tenant_id, message_id, event_type, detail)
SELECT gen_random_uuid(), tenant_id, id, 'cancelled',
       '{"reason": "sender_number_not_owned"}'::jsonb
FROM cancelled;

UPDATE shops s SET sender_number = NULL, updated_at = now()
FROM lost_numbers l
WHERE s.id = l.shop_id;

ALTER TABLE shops ADD CONSTRAINT shops_sender_number_owned
    FOREIGN KEY (tenant_id, sender_number) REFERENCES sender_numbers (tenant_id, number);
CREATE INDEX shops_sender_number_idx ON shops (sender_number);
