-- The first schema: configuration entities, their cross references, the config version and the
-- change history. Applied in one transaction by storage::migrate().
--
-- Each entity row keeps its API JSON form in `doc` (what model::toJson produced; references are
-- ids) and copies into typed columns only what SQL must see: identity, uniqueness, references
-- (so that foreign keys guard them) and tags (for list filters). `seq` is the insertion order
-- that lists and list cursors follow.

-- Singleton values: config_version (bumped by every committed configuration write) and
-- admin_token_hash (SHA-256 hex of the admin token; not configuration, not versioned). `value`
-- has no declared type on purpose: no affinity, so a hex string is never coerced to a number.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('config_version', 0);

CREATE TABLE rate_limit_policies (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL UNIQUE,
  doc        TEXT NOT NULL CHECK (json_valid(doc)),
  tags       TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE services (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL UNIQUE,
  doc        TEXT NOT NULL CHECK (json_valid(doc)),
  tags       TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- name is optional for routes: NULL when absent (UNIQUE allows many NULLs). service_id is NULL
-- only for routes that have no single upstream service (aggregation). No ON DELETE action: a
-- service that a route still uses cannot be deleted.
CREATE TABLE routes (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  name       TEXT UNIQUE,
  service_id TEXT REFERENCES services (id),
  doc        TEXT NOT NULL CHECK (json_valid(doc)),
  tags       TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX routes_service_id ON routes (service_id);

CREATE TABLE consumers (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  username   TEXT NOT NULL UNIQUE,
  doc        TEXT NOT NULL CHECK (json_valid(doc)),
  tags       TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Which policies a route / consumer uses, in the order given (the order also lives in `doc`).
-- These rows exist so that a policy in use cannot be deleted (no ON DELETE action on policy_id)
-- and so that "who uses this policy" is an indexed query.
CREATE TABLE route_policies (
  route_id  TEXT NOT NULL REFERENCES routes (id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  policy_id TEXT NOT NULL REFERENCES rate_limit_policies (id),
  PRIMARY KEY (route_id, position)
) WITHOUT ROWID;
CREATE INDEX route_policies_policy_id ON route_policies (policy_id);

CREATE TABLE consumer_policies (
  consumer_id TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  policy_id   TEXT NOT NULL REFERENCES rate_limit_policies (id),
  PRIMARY KEY (consumer_id, position)
) WITHOUT ROWID;
CREATE INDEX consumer_policies_policy_id ON consumer_policies (policy_id);

-- Only the SHA-256 of a key is stored. The store deletes a consumer's keys itself (to record
-- each in history); the cascade is the safety net.
CREATE TABLE api_keys (
  seq         INTEGER PRIMARY KEY,
  id          TEXT NOT NULL UNIQUE,
  consumer_id TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
  key_hash    TEXT NOT NULL UNIQUE,
  prefix      TEXT NOT NULL,
  expires_at  INTEGER,
  tags        TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
  created_at  INTEGER NOT NULL
);
CREATE INDEX api_keys_consumer_id ON api_keys (consumer_id);

-- One row per committed configuration version.
CREATE TABLE history (
  version INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  summary TEXT NOT NULL
);

-- The entities one version touched, in the order applied; before/after are API JSON forms
-- (NULL when the entity did not exist on that side). Undoing these newest-first from the
-- current configuration reconstructs any earlier version.
CREATE TABLE history_changes (
  version     INTEGER NOT NULL REFERENCES history (version) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id   TEXT NOT NULL,
  before      TEXT CHECK (before IS NULL OR json_valid(before)),
  after       TEXT CHECK (after IS NULL OR json_valid(after)),
  PRIMARY KEY (version, seq)
) WITHOUT ROWID;
