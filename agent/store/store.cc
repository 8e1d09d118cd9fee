#include "agent/store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/store/schema.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

// Nothing in the state directory is for other users (docs/security.md).
constexpr mode_t kStateDirMode = 0750;
constexpr mode_t kStateFileMode = 0640;

constexpr char kInsertDecision[] =
    "INSERT INTO decisions(id, time_us, verdict, scope, source, ttl_seconds, decider, reason, "
    "rule_id, pending_id, family, protocol, src_addr, dst_addr, src_port, dst_port, "
    "interface, direction, src_key, dst_key) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

constexpr char kSelectColumns[] =
    "SELECT id, time_us, verdict, scope, source, ttl_seconds, decider, reason, rule_id, "
    "pending_id, family, protocol, src_addr, dst_addr, src_port, dst_port, interface, "
    "direction FROM decisions";

nfr::v1::Decision RowToDecision(const SqliteStatement& st) {
  nfr::v1::Decision d;
  d.set_id(static_cast<uint64_t>(st.Int(0)));
  *d.mutable_time() = ToProtoTime(absl::FromUnixMicros(st.Int(1)));
  d.set_verdict(static_cast<nfr::v1::Verdict>(st.Int(2)));
  d.set_scope(static_cast<nfr::v1::DecisionScope>(st.Int(3)));
  d.set_source(static_cast<nfr::v1::DecisionSource>(st.Int(4)));
  d.set_ttl_seconds(static_cast<uint32_t>(st.Int(5)));
  d.set_decider(st.Text(6));
  d.set_reason(st.Text(7));
  d.set_rule_id(st.Text(8));
  d.set_pending_id(static_cast<uint64_t>(st.Int(9)));
  nfr::v1::Flow* f = d.mutable_flow();
  f->set_family(static_cast<uint32_t>(st.Int(10)));
  f->set_protocol(static_cast<nfr::v1::Protocol>(st.Int(11)));
  f->set_src_addr(st.Text(12));
  f->set_dst_addr(st.Text(13));
  f->set_src_port(static_cast<uint32_t>(st.Int(14)));
  f->set_dst_port(static_cast<uint32_t>(st.Int(15)));
  f->set_interface(st.Text(16));
  f->set_direction(static_cast<nfr::v1::Direction>(st.Int(17)));
  return d;
}

absl::Status EnsureParentDir(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) return absl::OkStatus();
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) ::chmod(dir.c_str(), kStateDirMode);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create directory ", dir.string(), " for ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

// The database, created 0640 before SQLite opens it: SQLite gives its -wal and -shm files the
// database file's mode, so none of them is ever world-readable (decision log: deciders, reasons).
absl::Status CreatePrivate(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kStateFileMode);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot create the state database ", path, ": ",
                                               strerror(errno),
                                               "; check store.db_path and its directory"));
  }
  ::fchmod(fd, kStateFileMode);
  ::close(fd);
  for (const char* suffix : {"-wal", "-shm"}) {
    ::chmod(absl::StrCat(path, suffix).c_str(), kStateFileMode);  // left by an older agent
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const nfr::v1::StoreConfig& config) {
  const std::string& path = config.db_path();
  const uint32_t max_decisions = config.max_decisions();
  const uint32_t days = config.max_decision_age_days();
  if (absl::Status s = EnsureParentDir(path); !s.ok()) return s;
  if (absl::Status s = CreatePrivate(path); !s.ok()) return s;
  std::unique_ptr<Store> store(new Store(path, max_decisions, absl::Hours(24) * days, config));
  absl::StatusOr<std::unique_ptr<SqliteDb>> w = SqliteDb::Open(path);
  if (!w.ok()) return w.status();
  store->writer_db_ = std::move(*w);
  SqliteDb& db = *store->writer_db_;
  if (absl::Status s = db.Exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
  // FULL: every commit fsyncs the WAL, so an OK response means on disk.
  if (absl::Status s = db.Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
  if (absl::Status s = MigrateSchema(db); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<SqliteDb>> r = SqliteDb::Open(path);
  if (!r.ok()) return r.status();
  store->reader_db_ = std::move(*r);
  store->next_id_ = static_cast<uint64_t>(db.QueryInt("SELECT MAX(id) FROM decisions", 0)) + 1;
  if (absl::Status s = store->Prune(); !s.ok()) return s;
  Store* raw = store.get();
  store->async_ = std::make_unique<DecisionWriter>(
      kDecisionWriterCapacity,
      [raw](const std::vector<nfr::v1::Decision>& batch) { return raw->WriteDecisions(batch); });
  return store;
}

Store::~Store() { async_.reset(); }

absl::StatusOr<std::optional<nfr::v1::Policy>> Store::LatestPolicy() {
  std::lock_guard<std::mutex> l(read_mu_);
  absl::StatusOr<SqliteStatement> st =
      reader_db_->Prepare("SELECT policy FROM policy_versions ORDER BY version DESC LIMIT 1");
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<nfr::v1::Policy>();
  nfr::v1::Policy p;
  if (!p.ParseFromString(st->Blob(0))) {
    return absl::DataLossError(absl::StrCat(
        "latest policy in ", path_, " does not parse; restore a backup or delete the file"));
  }
  return std::optional<nfr::v1::Policy>(std::move(p));
}

absl::Status Store::SavePolicy(const nfr::v1::Policy& policy, absl::string_view author,
                               absl::string_view comment) {
  std::lock_guard<std::mutex> l(write_mu_);
  absl::StatusOr<SqliteStatement> st = writer_db_->Prepare(
      "INSERT INTO policy_versions(version, created_us, author, comment, policy) "
      "VALUES(?, ?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  std::string blob = policy.SerializeAsString();
  st->Bind(1, static_cast<int64_t>(policy.version()));
  st->Bind(2, absl::ToUnixMicros(absl::Now()));
  st->Bind(3, author);
  st->Bind(4, comment);
  st->BindBlob(5, blob.data(), blob.size());
  if (absl::Status s = st->Run(); !s.ok()) {
    if (absl::StrContains(s.message(), "UNIQUE")) {
      return absl::AlreadyExistsError(
          absl::StrCat("policy version ", policy.version(), " already stored"));
    }
    return s;
  }
  // The version is committed: retention failing (a full disk) must not report it as refused;
  // the next save or start prunes again.
  (void)PrunePoliciesLocked();
  return absl::OkStatus();
}

// Newest first: a version goes once it is past the count bound or the history up to and
// including it is past the size bound. The newest (current) version always stays.
absl::Status Store::PrunePoliciesLocked() {
  return writer_db_->Exec(absl::StrCat(
      "DELETE FROM policy_versions WHERE version IN (SELECT version FROM ("
      "SELECT version, ROW_NUMBER() OVER w AS n, SUM(length(policy)) OVER w AS total "
      "FROM policy_versions WINDOW w AS (ORDER BY version DESC ROWS UNBOUNDED PRECEDING)) "
      "WHERE n > 1 AND (n > ",
      max_policy_versions_, " OR total > ", max_policy_history_bytes_, "))"));
}

absl::Status Store::InsertLocked(const nfr::v1::Decision& d) {
  if (!insert_.has_value()) {
    absl::StatusOr<SqliteStatement> prepared = writer_db_->Prepare(kInsertDecision);
    if (!prepared.ok()) return prepared.status();
    insert_.emplace(*std::move(prepared));
  }
  SqliteStatement* st = &*insert_;
  const nfr::v1::Flow& f = d.flow();
  st->Bind(1, static_cast<int64_t>(d.id()));
  st->Bind(2, absl::ToUnixMicros(FromProtoTime(d.time())));
  st->Bind(3, d.verdict());
  st->Bind(4, d.scope());
  st->Bind(5, d.source());
  st->Bind(6, d.ttl_seconds());
  st->Bind(7, d.decider());
  st->Bind(8, d.reason());
  st->Bind(9, d.rule_id());
  st->Bind(10, static_cast<int64_t>(d.pending_id()));
  st->Bind(11, f.family());
  st->Bind(12, f.protocol());
  st->Bind(13, f.src_addr());
  st->Bind(14, f.dst_addr());
  st->Bind(15, f.src_port());
  st->Bind(16, f.dst_port());
  st->Bind(17, f.interface());
  st->Bind(18, f.direction());
  if (auto k = AddressKey(f.src_addr())) {
    st->BindBlob(19, k->data(), k->size());
  } else {
    st->BindNull(19);
  }
  if (auto k = AddressKey(f.dst_addr())) {
    st->BindBlob(20, k->data(), k->size());
  } else {
    st->BindNull(20);
  }
  absl::Status s = st->Run();
  if (!s.ok()) st->Reset();  // ready for the next row
  return s;
}

absl::Status Store::AppendDecision(nfr::v1::Decision& decision) {
  if (decision.id() == 0) decision.set_id(NextDecisionId());
  if (!decision.has_time()) {
    *decision.mutable_time() = ToProtoTime(absl::Now());
  }
  std::lock_guard<std::mutex> l(write_mu_);
  absl::Status s = InsertLocked(decision);
  if (s.ok()) sync_written_.fetch_add(1);
  return s;
}

bool Store::EnqueueDecision(nfr::v1::Decision decision) {
  if (decision.id() == 0) decision.set_id(NextDecisionId());
  if (!decision.has_time()) {
    *decision.mutable_time() = ToProtoTime(absl::Now());
  }
  return async_->Enqueue(std::move(decision));
}

void Store::Flush() { async_->Flush(); }

absl::Status Store::WriteDecisions(const std::vector<nfr::v1::Decision>& batch) {
  std::lock_guard<std::mutex> l(write_mu_);
  if (absl::Status s = writer_db_->Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  for (const nfr::v1::Decision& d : batch) {
    if (absl::Status s = InsertLocked(d); !s.ok()) {
      (void)writer_db_->Exec("ROLLBACK");
      return s;
    }
  }
  if (absl::Status s = writer_db_->Exec("COMMIT"); !s.ok()) return s;
  inserts_since_prune_ += batch.size();
  if (inserts_since_prune_ >= 1000 || absl::Now() - last_prune_ > absl::Seconds(10)) {
    return PruneLocked();
  }
  return absl::OkStatus();
}

absl::Status Store::Prune() {
  std::lock_guard<std::mutex> l(write_mu_);
  if (absl::Status s = PrunePoliciesLocked(); !s.ok()) return s;
  return PruneLocked();
}

absl::Status Store::PruneLocked() {
  inserts_since_prune_ = 0;
  last_prune_ = absl::Now();
  const int64_t oldest_us = absl::ToUnixMicros(absl::Now() - max_age_);
  if (absl::Status s =
          writer_db_->Exec(absl::StrCat("DELETE FROM decisions WHERE time_us < ", oldest_us));
      !s.ok()) {
    return s;
  }
  return writer_db_->Exec(absl::StrCat(
      "DELETE FROM decisions WHERE id <= (SELECT id FROM decisions ORDER BY id DESC LIMIT 1 "
      "OFFSET ",
      max_decisions_, ")"));
}

absl::StatusOr<DecisionPage> Store::ListDecisions(const DecisionQuery& q) {
  std::string sql = kSelectColumns;
  std::vector<std::string> where;
  if (q.before_id) where.push_back("id < ?1");
  if (q.since) where.push_back("time_us >= ?2");
  if (q.until) where.push_back("time_us < ?3");
  if (q.verdict) where.push_back("verdict = ?4");
  if (q.source) where.push_back("source = ?5");
  if (q.prefix) where.push_back("((src_key BETWEEN ?6 AND ?7) OR (dst_key BETWEEN ?6 AND ?7))");
  for (size_t i = 0; i < where.size(); ++i) {
    absl::StrAppend(&sql, i ? " AND " : " WHERE ", where[i]);
  }
  const uint32_t limit = q.limit ? q.limit : 100;
  absl::StrAppend(&sql, " ORDER BY id DESC LIMIT ?8");
  std::lock_guard<std::mutex> l(read_mu_);
  absl::StatusOr<SqliteStatement> st = reader_db_->Prepare(sql);
  if (!st.ok()) return st.status();
  if (q.before_id) st->Bind(1, static_cast<int64_t>(q.before_id));
  if (q.since) st->Bind(2, absl::ToUnixMicros(*q.since));
  if (q.until) st->Bind(3, absl::ToUnixMicros(*q.until));
  if (q.verdict) st->Bind(4, q.verdict);
  if (q.source) st->Bind(5, q.source);
  if (q.prefix) {
    st->BindBlob(6, q.prefix->lo.data(), 16);
    st->BindBlob(7, q.prefix->hi.data(), 16);
  }
  st->Bind(8, static_cast<int64_t>(limit) + 1);
  DecisionPage page;
  for (;;) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (page.decisions.size() == limit) {
      page.next_before_id = page.decisions.back().id();
      break;
    }
    page.decisions.push_back(RowToDecision(*st));
  }
  return page;
}

absl::StatusOr<std::vector<nfr::v1::Decision>> Store::DecisionsAfter(uint64_t after_id,
                                                                     uint32_t limit) {
  std::lock_guard<std::mutex> l(read_mu_);
  absl::StatusOr<SqliteStatement> st =
      reader_db_->Prepare(absl::StrCat(kSelectColumns, " WHERE id > ?1 ORDER BY id ASC LIMIT ?2"));
  if (!st.ok()) return st.status();
  st->Bind(1, static_cast<int64_t>(after_id));
  st->Bind(2, static_cast<int64_t>(limit));
  std::vector<nfr::v1::Decision> out;
  for (;;) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(RowToDecision(*st));
  }
  return out;
}

StoreStats Store::stats() const {
  StoreStats s;
  s.decisions_logged = sync_written_.load() + (async_ ? async_->written() : 0);
  s.decision_log_overflow = async_ ? async_->overflow() : 0;
  s.decision_log_errors = async_ ? async_->errors() : 0;
  return s;
}

}  // namespace nfr
