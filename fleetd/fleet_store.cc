#include "fleetd/fleet_store.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

constexpr char kSchema[] = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, record BLOB NOT NULL, last_seen_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
  agent_id TEXT NOT NULL, id INTEGER NOT NULL, record BLOB NOT NULL, received_us INTEGER NOT NULL,
  PRIMARY KEY (agent_id, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_policies (
  selector TEXT PRIMARY KEY, version INTEGER NOT NULL, policy BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rollouts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL, results BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS group_rollout (
  selector TEXT PRIMARY KEY, rollout_id INTEGER NOT NULL);
)sql";

// Created separately: its absence means a database from before catch-up,
// whose rollout history is replayed into it once.
constexpr char kAgentGroups[] = R"sql(
CREATE TABLE agent_groups (
  agent_id TEXT NOT NULL, selector TEXT NOT NULL, group_version INTEGER NOT NULL,
  PRIMARY KEY (agent_id, selector)) WITHOUT ROWID;
)sql";

std::string Bytes(const google::protobuf::Message& m) { return m.SerializeAsString(); }

}  // namespace

absl::StatusOr<std::unique_ptr<FleetStore>> FleetStore::Open(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(path);
  if (!db.ok()) {
    return absl::Status(db.status().code(),
                        absl::StrCat("db_path ", path, ": ", db.status().message(),
                                     "; check the directory exists and is writable"));
  }
  if (absl::Status s = (*db)->Exec(kSchema); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("db_path ", path, ": schema: ", s.message()));
  }
  const bool had_agent_groups =
      (*db)->QueryInt("SELECT COUNT(*) FROM sqlite_master WHERE name = 'agent_groups'", 0) > 0;
  auto st = std::unique_ptr<FleetStore>(new FleetStore());
  st->db_ = *std::move(db);
  if (!had_agent_groups) {
    if (absl::Status s = st->BackfillAgentGroups(); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("db_path ", path, ": agent_groups: ", s.message()));
    }
  }
  return st;
}

absl::Status FleetStore::SeeAgent(const nfr::v1::FleetAgent& agent) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<SqliteStatement> st = db_->Prepare(
      "INSERT INTO agents(id, record, last_seen_us) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(id) DO UPDATE SET record = ?2, last_seen_us = ?3");
  if (!st.ok()) return st.status();
  st->Bind(1, agent.id());
  const std::string rec = Bytes(agent);
  st->BindBlob(2, rec.data(), rec.size());
  st->Bind(3, absl::ToUnixMicros(absl::Now()));
  return st->Run();
}

std::vector<nfr::v1::FleetAgent> FleetStore::Agents() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<nfr::v1::FleetAgent> out;
  absl::StatusOr<SqliteStatement> st = db_->Prepare("SELECT record FROM agents ORDER BY id");
  if (!st.ok()) return out;
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok() || !*row) break;
    nfr::v1::FleetAgent a;
    if (a.ParseFromString(st->Blob(0))) out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<uint64_t> FleetStore::AddDecisions(const std::string& agent_id,
                                                  const std::vector<nfr::v1::Decision>& ds) {
  std::lock_guard<std::mutex> l(mu_);
  if (absl::Status s = db_->Exec("BEGIN"); !s.ok()) return s;
  absl::StatusOr<SqliteStatement> st = db_->Prepare(
      "INSERT OR IGNORE INTO decisions(agent_id, id, record, received_us) VALUES(?1, ?2, ?3, ?4)");
  if (!st.ok()) {
    (void)db_->Exec("ROLLBACK");
    return st.status();
  }
  uint64_t dup = 0;
  const int64_t now = absl::ToUnixMicros(absl::Now());
  for (const nfr::v1::Decision& d : ds) {
    st->Bind(1, agent_id);
    st->Bind(2, static_cast<int64_t>(d.id()));
    const std::string rec = Bytes(d);
    st->BindBlob(3, rec.data(), rec.size());
    st->Bind(4, now);
    if (absl::Status s = st->Run(); !s.ok()) {
      (void)db_->Exec("ROLLBACK");
      return s;
    }
    if (sqlite3_changes(db_->raw()) == 0) ++dup;
  }
  if (absl::Status s = db_->Exec("COMMIT"); !s.ok()) return s;
  return dup;
}

uint64_t FleetStore::MaxDecisionId(const std::string& agent_id) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<SqliteStatement> st =
      db_->Prepare("SELECT COALESCE(MAX(id), 0) FROM decisions WHERE agent_id = ?1");
  if (!st.ok()) return 0;
  st->Bind(1, agent_id);
  absl::StatusOr<bool> row = st->Step();
  return row.ok() && *row ? static_cast<uint64_t>(st->Int(0)) : 0;
}

absl::StatusOr<std::vector<nfr::v1::Decision>> FleetStore::Decisions(const std::string& agent_id,
                                                                     uint64_t after_id,
                                                                     uint32_t limit) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<SqliteStatement> st = db_->Prepare(
      "SELECT record FROM decisions WHERE agent_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
  if (!st.ok()) return st.status();
  st->Bind(1, agent_id);
  st->Bind(2, static_cast<int64_t>(after_id));
  st->Bind(3, static_cast<int64_t>(limit));
  std::vector<nfr::v1::Decision> out;
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    nfr::v1::Decision d;
    d.ParseFromString(st->Blob(0));
    out.push_back(std::move(d));
  }
  return out;
}

uint64_t FleetStore::GroupVersion(const std::string& selector) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<SqliteStatement> st =
      db_->Prepare("SELECT version FROM group_policies WHERE selector = ?1");
  if (!st.ok()) return 0;
  st->Bind(1, selector);
  absl::StatusOr<bool> row = st->Step();
  return row.ok() && *row ? static_cast<uint64_t>(st->Int(0)) : 0;
}

absl::StatusOr<uint64_t> FleetStore::RecordRollout(const nfr::v1::RolloutRecord& record,
                                                   const nfr::v1::Policy& policy,
                                                   const nfr::v1::RolloutResponse& results) {
  std::lock_guard<std::mutex> l(mu_);
  return RecordLocked(record, &policy, results);
}

absl::StatusOr<uint64_t> FleetStore::RecordCatchUp(const nfr::v1::RolloutRecord& record,
                                                   const nfr::v1::RolloutResponse& results) {
  std::lock_guard<std::mutex> l(mu_);
  return RecordLocked(record, nullptr, results);
}

absl::StatusOr<uint64_t> FleetStore::RecordLocked(const nfr::v1::RolloutRecord& record,
                                                  const nfr::v1::Policy* policy,
                                                  const nfr::v1::RolloutResponse& results) {
  if (absl::Status s = db_->Exec("BEGIN"); !s.ok()) return s;
  auto fail = [&](absl::Status s) {
    (void)db_->Exec("ROLLBACK");
    return s;
  };
  if (policy != nullptr) {
    absl::StatusOr<SqliteStatement> g = db_->Prepare(
        "INSERT INTO group_policies(selector, version, policy) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(selector) DO UPDATE SET version = ?2, policy = ?3");
    if (!g.ok()) return fail(g.status());
    g->Bind(1, record.selector());
    g->Bind(2, static_cast<int64_t>(record.group_version()));
    const std::string p = Bytes(*policy);
    g->BindBlob(3, p.data(), p.size());
    if (absl::Status s = g->Run(); !s.ok()) return fail(s);
  }
  absl::StatusOr<SqliteStatement> r =
      db_->Prepare("INSERT INTO rollouts(record, results) VALUES(?1, ?2)");
  if (!r.ok()) return fail(r.status());
  const std::string rec = Bytes(record), res = Bytes(results);
  r->BindBlob(1, rec.data(), rec.size());
  r->BindBlob(2, res.data(), res.size());
  if (absl::Status s = r->Run(); !s.ok()) return fail(s);
  const uint64_t id = static_cast<uint64_t>(sqlite3_last_insert_rowid(db_->raw()));
  if (policy != nullptr) {
    absl::StatusOr<SqliteStatement> o = db_->Prepare(
        "INSERT INTO group_rollout(selector, rollout_id) VALUES(?1, ?2) "
        "ON CONFLICT(selector) DO UPDATE SET rollout_id = ?2");
    if (!o.ok()) return fail(o.status());
    o->Bind(1, record.selector());
    o->Bind(2, static_cast<int64_t>(id));
    if (absl::Status s = o->Run(); !s.ok()) return fail(s);
  }
  absl::StatusOr<SqliteStatement> a = db_->Prepare(
      "INSERT INTO agent_groups(agent_id, selector, group_version) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(agent_id, selector) DO UPDATE SET group_version = ?3");
  if (!a.ok()) return fail(a.status());
  for (const nfr::v1::RolloutResult& res : results.results()) {
    if (!res.ok()) continue;
    a->Bind(1, res.agent_id());
    a->Bind(2, record.selector());
    a->Bind(3, static_cast<int64_t>(record.group_version()));
    if (absl::Status s = a->Run(); !s.ok()) return fail(s);
  }
  if (absl::Status s = db_->Exec("COMMIT"); !s.ok()) return fail(s);
  return id;
}

absl::Status FleetStore::BackfillAgentGroups() {
  if (absl::Status s = db_->Exec("BEGIN"); !s.ok()) return s;
  auto fail = [&](absl::Status s) {
    (void)db_->Exec("ROLLBACK");
    return s;
  };
  if (absl::Status s = db_->Exec(kAgentGroups); !s.ok()) return fail(s);
  absl::StatusOr<SqliteStatement> st =
      db_->Prepare("SELECT id, record, results FROM rollouts ORDER BY id");
  if (!st.ok()) return fail(st.status());
  absl::StatusOr<SqliteStatement> a = db_->Prepare(
      "INSERT INTO agent_groups(agent_id, selector, group_version) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(agent_id, selector) DO UPDATE SET group_version = ?3");
  if (!a.ok()) return fail(a.status());
  absl::StatusOr<SqliteStatement> o = db_->Prepare(
      "INSERT INTO group_rollout(selector, rollout_id) VALUES(?1, ?2) "
      "ON CONFLICT(selector) DO UPDATE SET rollout_id = ?2");
  if (!o.ok()) return fail(o.status());
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return fail(row.status());
    if (!*row) break;
    nfr::v1::RolloutRecord rec;
    nfr::v1::RolloutResponse res;
    if (!rec.ParseFromString(st->Blob(1)) || !res.ParseFromString(st->Blob(2))) continue;
    o->Bind(1, rec.selector());
    o->Bind(2, st->Int(0));
    if (absl::Status s = o->Run(); !s.ok()) return fail(s);
    for (const nfr::v1::RolloutResult& r : res.results()) {
      if (!r.ok()) continue;
      a->Bind(1, r.agent_id());
      a->Bind(2, rec.selector());
      a->Bind(3, static_cast<int64_t>(rec.group_version()));
      if (absl::Status s = a->Run(); !s.ok()) return fail(s);
    }
  }
  if (absl::Status s = db_->Exec("COMMIT"); !s.ok()) return fail(s);
  return absl::OkStatus();
}

std::vector<GroupHead> FleetStore::GroupHeads() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<GroupHead> out;
  absl::StatusOr<SqliteStatement> st = db_->Prepare(
      "SELECT g.selector, g.version, COALESCE(o.rollout_id, 0) FROM group_policies g "
      "LEFT JOIN group_rollout o ON o.selector = g.selector ORDER BY 3 DESC, 1");
  if (!st.ok()) return out;
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok() || !*row) break;
    out.push_back(
        {st->Text(0), static_cast<uint64_t>(st->Int(1)), static_cast<uint64_t>(st->Int(2))});
  }
  return out;
}

absl::StatusOr<nfr::v1::Policy> FleetStore::GroupPolicy(const std::string& selector,
                                                        uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<SqliteStatement> st =
      db_->Prepare("SELECT policy FROM group_policies WHERE selector = ?1 AND version = ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, selector);
  st->Bind(2, static_cast<int64_t>(version));
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  nfr::v1::Policy p;
  if (!*row || !p.ParseFromString(st->Blob(0))) {
    return absl::NotFoundError(absl::StrCat("group policy \"", selector, "\" v", version,
                                            " is no longer stored (a newer rollout replaced it)"));
  }
  return p;
}

std::map<std::string, uint64_t> FleetStore::AgentGroups(const std::string& agent_id) {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, uint64_t> out;
  absl::StatusOr<SqliteStatement> st =
      db_->Prepare("SELECT selector, group_version FROM agent_groups WHERE agent_id = ?1");
  if (!st.ok()) return out;
  st->Bind(1, agent_id);
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok() || !*row) break;
    out[st->Text(0)] = static_cast<uint64_t>(st->Int(1));
  }
  return out;
}

std::vector<nfr::v1::RolloutRecord> FleetStore::Rollouts(uint32_t limit) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<nfr::v1::RolloutRecord> out;
  absl::StatusOr<SqliteStatement> st =
      db_->Prepare("SELECT id, record FROM rollouts ORDER BY id DESC LIMIT ?1");
  if (!st.ok()) return out;
  st->Bind(1, static_cast<int64_t>(limit));
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok() || !*row) break;
    nfr::v1::RolloutRecord r;
    r.ParseFromString(st->Blob(1));
    r.set_rollout_id(static_cast<uint64_t>(st->Int(0)));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace nfr
