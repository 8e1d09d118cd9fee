#include "agent/store/sqlite_db.h"

#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  const char* file = sqlite3_db_filename(db, "main");
  const int code = sqlite3_extended_errcode(db);
  // A full disk is the operator's to fix, not an internal error: say so, and that nothing changed.
  if ((code & 0xff) == SQLITE_FULL || code == SQLITE_IOERR_WRITE || code == SQLITE_IOERR_FSYNC) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the state database ", file, " cannot be written (", sqlite3_errmsg(db),
        "): the disk is probably full; nothing was changed; free space on its filesystem and "
        "retry"));
  }
  return absl::InternalError(
      absl::StrCat("sqlite ", what, ": ", sqlite3_errmsg(db), " (", file, ")"));
}

}  // namespace

SqliteStatement::~SqliteStatement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

void SqliteStatement::Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
void SqliteStatement::Bind(int i, absl::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void SqliteStatement::BindBlob(int i, const void* data, size_t len) {
  sqlite3_bind_blob(stmt_, i, data, static_cast<int>(len), SQLITE_TRANSIENT);
}
void SqliteStatement::BindNull(int i) { sqlite3_bind_null(stmt_, i); }

absl::StatusOr<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  absl::Status s = SqlError(db_, "step");
  sqlite3_reset(stmt_);
  return s;
}

absl::Status SqliteStatement::Run() {
  for (;;) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
  }
  Reset();
  return absl::OkStatus();
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStatement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStatement::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(t),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string SqliteStatement::Blob(int col) const {
  const void* b = sqlite3_column_blob(stmt_, col);
  return b == nullptr ? std::string()
                      : std::string(static_cast<const char*>(b),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db) sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", msg,
                                               "; check the directory exists and is writable "
                                               "or set store.db_path / --db"));
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<SqliteDb>(new SqliteDb(db, path));
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

absl::Status SqliteDb::Exec(absl::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status st = absl::InternalError(
        absl::StrCat("sqlite: ", err ? err : "error", " (", path_, ") in: ", sql));
    sqlite3_free(err);
    return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStatement> SqliteDb::Prepare(absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return SqlError(db_, absl::StrCat("prepare \"", sql, "\""));
  }
  return SqliteStatement(db_, stmt);
}

int64_t SqliteDb::QueryInt(absl::string_view sql, int64_t fallback) {
  absl::StatusOr<SqliteStatement> st = Prepare(sql);
  if (!st.ok()) return fallback;
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok() || !*row) return fallback;
  return st->Int(0);
}

}  // namespace nfr
