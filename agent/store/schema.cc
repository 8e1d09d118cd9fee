#include "agent/store/schema.h"

#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

// Index i upgrades user_version i -> i+1. Append only; never edit a shipped one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE policy_versions (
  version    INTEGER PRIMARY KEY,
  created_us INTEGER NOT NULL,
  author     TEXT NOT NULL,
  comment    TEXT NOT NULL,
  policy     BLOB NOT NULL              -- serialized nfr.v1.Policy
);
CREATE TABLE decisions (
  id          INTEGER PRIMARY KEY,      -- Decision.id
  time_us     INTEGER NOT NULL,
  verdict     INTEGER NOT NULL,
  scope       INTEGER NOT NULL,
  source      INTEGER NOT NULL,
  ttl_seconds INTEGER NOT NULL,
  decider     TEXT NOT NULL,
  reason      TEXT NOT NULL,
  rule_id     TEXT NOT NULL,
  pending_id  INTEGER NOT NULL,
  family      INTEGER NOT NULL,
  protocol    INTEGER NOT NULL,
  src_addr    TEXT NOT NULL,
  dst_addr    TEXT NOT NULL,
  src_port    INTEGER NOT NULL,
  dst_port    INTEGER NOT NULL,
  interface   TEXT NOT NULL,
  direction   INTEGER NOT NULL,
  src_key     BLOB,                     -- 16-byte address key (ip_range.h)
  dst_key     BLOB
);
CREATE INDEX decisions_time ON decisions(time_us);
)sql",
};

}  // namespace

absl::Status MigrateSchema(SqliteDb& db) {
  const int64_t have = db.QueryInt("PRAGMA user_version", 0);
  if (have > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database ", db.path(), " has schema version ", have, " but this agent knows up to ",
        kSchemaVersion, "; run a newer nfr-agent or point store.db_path at another file"));
  }
  for (int64_t v = have; v < kSchemaVersion; ++v) {
    if (absl::Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    absl::Status s = db.Exec(kMigrations[v]);
    if (s.ok()) s = db.Exec(absl::StrCat("PRAGMA user_version = ", v + 1));
    if (!s.ok()) {
      (void)db.Exec("ROLLBACK");
      return s;
    }
    if (absl::Status c = db.Exec("COMMIT"); !c.ok()) return c;
  }
  return absl::OkStatus();
}

}  // namespace nfr
