-- Certificates for the TLS listener (API.md "/certificates"). Applied in one transaction by
-- storage::migrate().
--
-- `doc` is the stored form (model::toJson with the sealed key): the private key appears only as
-- "key_encrypted", sealed by the keyring with the certificate id as associated data; never as
-- PEM text. The typed columns are what SQL must enforce: identity, the unique name, at most one
-- default certificate and, in certificate_snis, that no server name belongs to two
-- certificates.

CREATE TABLE certificates (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL UNIQUE,
  is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  doc        TEXT NOT NULL CHECK (json_valid(doc)),
  tags       TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- At most one certificate is served when no SNI matches.
CREATE UNIQUE INDEX certificates_one_default ON certificates (is_default) WHERE is_default = 1;

-- Each server name (lower case, "*.example.org" for a wildcard) of each certificate, once
-- across all of them. The store keeps these rows in step with the certificate's doc.
CREATE TABLE certificate_snis (
  sni            TEXT PRIMARY KEY NOT NULL,
  certificate_id TEXT NOT NULL REFERENCES certificates (id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX certificate_snis_certificate_id ON certificate_snis (certificate_id);
