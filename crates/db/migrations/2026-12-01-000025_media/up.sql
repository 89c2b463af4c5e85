-- Images for MMS: uploaded from the console into S3 (the object's key is here, the
-- bytes are not), checked by their content (type, size, dimensions), attached to
-- messages. The sender hands the provider a time-limited URL of the object.
CREATE TABLE media (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    s3_key text NOT NULL UNIQUE,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/gif')),
    bytes integer NOT NULL CHECK (bytes > 0),
    width integer NOT NULL CHECK (width > 0),
    height integer NOT NULL CHECK (height > 0),
    -- SHA-256 of the bytes, hex.
    sha256 text NOT NULL,
    -- The file's name as uploaded, for people (never used as a path).
    original_name text NOT NULL DEFAULT '',
    -- A smaller copy for the console's lists (at most 192 px a side, JPEG or PNG), made
    -- at upload so a page of thumbnails does not download every original. Never sent.
    thumbnail_s3_key text NOT NULL UNIQUE,
    thumbnail_content_type text NOT NULL CHECK (thumbnail_content_type IN ('image/jpeg', 'image/png')),
    thumbnail_width integer NOT NULL CHECK (thumbnail_width > 0),
    thumbnail_height integer NOT NULL CHECK (thumbnail_height > 0),
    created_at timestamptz NOT NULL
);
CREATE INDEX media_tenant_idx ON media (tenant_id, id DESC);

-- The image a message carries (an MMS), if any.
ALTER TABLE messages ADD COLUMN media_id uuid REFERENCES media (id);
