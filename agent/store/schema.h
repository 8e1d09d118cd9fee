// Decision-log/policy database schema and its versioned migrations
// (PRAGMA user_version); Migrate() brings any older file up to date.
#pragma once

#include "absl/status/status.h"
#include "agent/store/sqlite_db.h"

namespace nfr {

inline constexpr int kSchemaVersion = 1;

// Applies missing migrations in one transaction each. FAILED_PRECONDITION
// when the file was written by a newer agent.
absl::Status MigrateSchema(SqliteDb& db);

}  // namespace nfr
