#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ctl/format.h"
#include "ctl/rpc_call.h"
#include "ctl/verb_flags.h"
#include "ctl/verbs.h"
#include "nfr/v1/connection_service.grpc.pb.h"

namespace nfrctl {

using nfr::v1::ConnectionService;

int RunPendingList(const Args& a) {
  nfr::v1::ListPendingRequest req;
  std::string err;
  if (!PendingFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  nfr::v1::ListPendingResponse resp;
  if (int rc = CallUnary(a, "pending list", &ConnectionService::Stub::ListPending, req, &resp)) {
    return rc;
  }
  return PrintList(a, resp.pending(), PendingHeader(), PendingRow);
}

std::string EventLine(const nfr::v1::PendingEvent& e) {
  auto decided = [](const char* what, const nfr::v1::PendingResolved& r) {
    const nfr::v1::Decision& d = r.decision();
    return absl::StrCat(what, " ", r.pending().id(), " ", VerdictName(d.verdict()), " ",
                        ScopeName(d.scope()), " ", FlowText(r.pending().flow()),
                        d.decider().empty() ? "" : absl::StrCat(" by ", d.decider()),
                        d.reason().empty() ? "" : absl::StrCat(" (", d.reason(), ")"));
  };
  if (e.has_snapshot() || e.has_added()) {
    const nfr::v1::PendingConnection& p = e.has_snapshot() ? e.snapshot() : e.added();
    return absl::StrCat(e.has_snapshot() ? "pending " : "added ", p.id(), " ", FlowText(p.flow()),
                        " decide within ", Until(p.deadline()));
  }
  if (e.has_snapshot_done())
    return absl::StrCat("snapshot ", e.snapshot_done().count(), " pending");
  if (e.has_resolved()) return decided("resolved", e.resolved());
  if (e.has_expired()) return decided("expired", e.expired());
  if (e.has_lost()) return absl::StrCat("lost ", e.lost().count(), " events (reader too slow)");
  return "?";
}

namespace {

// The live table `pending watch` redraws on a terminal.
class PendingScreen {
 public:
  void Update(const nfr::v1::PendingEvent& e) {
    if (e.has_snapshot()) table_[e.snapshot().id()] = e.snapshot();
    if (e.has_added()) table_[e.added().id()] = e.added();
    if (e.has_resolved()) table_.erase(e.resolved().pending().id());
    if (e.has_expired()) table_.erase(e.expired().pending().id());
    if (e.has_lost()) lost_ += e.lost().count();
    if (e.has_snapshot_done()) snapshot_done_ = true;
    if (!e.has_snapshot() && !e.has_snapshot_done()) {
      recent_.push_back(EventLine(e));
      if (recent_.size() > 5) recent_.erase(recent_.begin());
    }
    if (snapshot_done_) Draw();
  }

 private:
  void Draw() const {
    std::vector<Row> rows;
    for (const auto& [id, p] : table_) rows.push_back(PendingRow(p));
    std::cout << "\033[H\033[2J"
              << "nfrctl pending watch — " << table_.size() << " pending"
              << (lost_ ? absl::StrCat(", ", lost_, " events lost") : "")
              << "  (Ctrl-C to stop)\n\n"
              << Table(PendingHeader(), rows) << "\n";
    for (const std::string& l : recent_) std::cout << "  " << l << "\n";
    std::cout << std::flush;
  }

  std::map<uint64_t, nfr::v1::PendingConnection> table_;
  std::vector<std::string> recent_;
  uint64_t lost_ = 0;
  bool snapshot_done_ = false;
};

}  // namespace

int RunPendingWatch(const Args& a) {
  nfr::v1::WatchPendingRequest req;
  std::string err;
  if (!PendingFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  int64_t count;
  if (!CountFlag(a, &count)) return Usage("--count must be a number");
  auto stub = Dial<ConnectionService::Stub>(a);
  if (stub == nullptr) return kExitUsage;
  const bool json = JsonOutput(a);
  const bool live = !json && !a.Has("no-tty") && isatty(STDOUT_FILENO);
  PendingScreen screen;
  int64_t live_events = 0;
  return ReadStream(a, "pending watch", *stub, &ConnectionService::Stub::WatchPending, req,
                    [&](const nfr::v1::PendingEvent& e) {
                      if (json) {
                        std::cout << Json(e) << std::endl;
                      } else if (!live) {
                        std::cout << EventLine(e) << std::endl;
                      } else {
                        screen.Update(e);
                      }
                      return e.has_snapshot() || e.has_snapshot_done() || count < 0 ||
                             ++live_events < count;
                    });
}

int RunDecide(const Args& a) {
  if (a.positional.size() != 3) {
    return Usage("decide needs ID and accept|drop, e.g. nfrctl decide 12 accept");
  }
  nfr::v1::DecideRequest req;
  uint64_t id;
  if (!absl::SimpleAtoi(a.positional[1], &id)) return Usage("decide: ID must be a number");
  req.set_pending_id(id);
  nfr::v1::Verdict v;
  if (!ParseVerdict(a.positional[2], &v)) return Usage("decide: verdict must be accept or drop");
  req.set_verdict(v);
  req.set_scope(nfr::v1::DECISION_SCOPE_ONCE);
  if (a.Has("for") && a.Has("rule")) return Usage("--for and --rule exclude each other");
  uint32_t ttl;
  if (!ForFlag(a, &ttl)) return Usage("--for must be a positive duration like 30s, 10m, 1h");
  if (ttl) {
    req.set_scope(nfr::v1::DECISION_SCOPE_FLOW);
    req.set_ttl_seconds(ttl);
  }
  if (a.Has("rule")) req.set_scope(nfr::v1::DECISION_SCOPE_RULE);
  if (a.Has("rule-id")) {
    if (!a.Has("rule")) return Usage("--rule-id needs --rule");
    req.set_rule_id(a.Get("rule-id"));
  }
  req.set_reason(a.Get("reason"));
  nfr::v1::DecideResponse resp;
  if (int rc = CallUnary(a, "decide", &ConnectionService::Stub::Decide, req, &resp)) return rc;
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
    return kExitOk;
  }
  std::cout << VerdictName(resp.decision().verdict()) << " " << id << " ("
            << ScopeName(resp.decision().scope());
  if (resp.decision().scope() == nfr::v1::DECISION_SCOPE_FLOW) {
    std::cout << " " << resp.decision().ttl_seconds() << "s";
  }
  std::cout << ") " << FlowText(resp.decision().flow());
  if (resp.has_rule()) {
    std::cout << "; rule " << resp.rule().id() << " added, policy version "
              << resp.policy_version();
  }
  std::cout << "\n";
  return kExitOk;
}

// A scripted controller: decides every pending connection the watch shows.
int RunAutodecide(const Args& a) {
  if (a.positional.size() != 3) return Usage("pending autodecide needs accept|drop");
  nfr::v1::Verdict verdict;
  if (!ParseVerdict(a.positional[2], &verdict)) {
    return Usage("pending autodecide: verdict must be accept or drop");
  }
  nfr::v1::WatchPendingRequest req;
  std::string err;
  if (!PendingFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  uint32_t ttl;
  if (!ForFlag(a, &ttl)) return Usage("--for must be a positive duration like 30s, 10m, 1h");
  int64_t count;
  if (!CountFlag(a, &count)) return Usage("--count must be a number");
  auto conn = Dial<ConnectionService::Stub>(a);
  if (conn == nullptr) return kExitUsage;
  int64_t decided = 0;
  int rc = kExitOk;
  int stream_rc = ReadStream(
      a, "pending autodecide", *conn, &ConnectionService::Stub::WatchPending, req,
      [&](const nfr::v1::PendingEvent& e) {
        if (!e.has_snapshot() && !e.has_added()) return true;
        const nfr::v1::PendingConnection& p = e.has_snapshot() ? e.snapshot() : e.added();
        nfr::v1::DecideRequest d;
        d.set_pending_id(p.id());
        d.set_verdict(verdict);
        d.set_scope(ttl ? nfr::v1::DECISION_SCOPE_FLOW : nfr::v1::DECISION_SCOPE_ONCE);
        d.set_ttl_seconds(ttl);
        d.set_reason(a.Get("reason", "nfrctl pending autodecide"));
        nfr::v1::DecideResponse resp;
        grpc::Status s = Call(a, *conn, &ConnectionService::Stub::Decide, d, &resp);
        // Over the agent's api.limits.changes_per_second: wait for the bucket and retry.
        for (int tries = 0; s.error_code() == grpc::RESOURCE_EXHAUSTED && tries < 100; ++tries) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          s = Call(a, *conn, &ConnectionService::Stub::Decide, d, &resp);
        }
        if (s.error_code() == grpc::NOT_FOUND) return true;  // expired or decided by someone else
        if (!s.ok()) {
          rc = ReportRpcError("pending autodecide", s, a);
          return false;
        }
        if (JsonOutput(a)) {
          std::cout << Json(resp.decision()) << std::endl;
        } else {
          std::cout << VerdictName(verdict) << " " << p.id() << " " << FlowText(p.flow())
                    << std::endl;
        }
        return count < 0 || ++decided < count;
      });
  return rc != kExitOk ? rc : stream_rc;
}

}  // namespace nfrctl
