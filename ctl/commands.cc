#include "ctl/commands.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctl/connect.h"
#include "ctl/format.h"
#include "nfr/v1/agent_service.grpc.pb.h"
#include "nfr/v1/connection_service.grpc.pb.h"
#include "nfr/v1/decision_service.grpc.pb.h"
#include "nfr/v1/policy_service.grpc.pb.h"

namespace nfrctl {
namespace {

int Usage(const std::string& msg) {
  std::fprintf(stderr, "nfrctl: %s (see --help)\n", msg.c_str());
  return kExitUsage;
}

bool JsonOutput(const Args& a) { return a.Get("output", "table") == "json"; }

#define NFR_CONNECT(args, channel)              \
  std::string connect_error;                    \
  auto channel = Connect(args, &connect_error); \
  if (channel == nullptr) return Usage(connect_error);

// ---- parsing helpers -------------------------------------------------------

bool ParseProtocol(const std::string& s, nfr::v1::Protocol* p) {
  static const std::map<std::string, nfr::v1::Protocol> m = {{"any", nfr::v1::PROTOCOL_ANY},
                                                             {"tcp", nfr::v1::PROTOCOL_TCP},
                                                             {"udp", nfr::v1::PROTOCOL_UDP},
                                                             {"icmp", nfr::v1::PROTOCOL_ICMP},
                                                             {"icmpv6", nfr::v1::PROTOCOL_ICMPV6}};
  auto it = m.find(absl::AsciiStrToLower(s));
  if (it == m.end()) return false;
  *p = it->second;
  return true;
}

bool ParseVerdict(const std::string& s, nfr::v1::Verdict* v) {
  const std::string l = absl::AsciiStrToLower(s);
  if (l == "accept" || l == "allow")
    *v = nfr::v1::VERDICT_ACCEPT;
  else if (l == "drop" || l == "deny")
    *v = nfr::v1::VERDICT_DROP;
  else
    return false;
  return true;
}

bool ParseDurationArg(const std::string& s, absl::Duration* d) {
  if (!s.empty() && s.back() == 'd') {
    int64_t days;
    if (!absl::SimpleAtoi(s.substr(0, s.size() - 1), &days)) return false;
    *d = absl::Hours(24 * days);
    return true;
  }
  return absl::ParseDuration(s, d);
}

// "30m" (ago) or an RFC 3339 time.
bool ParseWhen(const std::string& s, google::protobuf::Timestamp* t) {
  absl::Time at;
  absl::Duration ago;
  std::string err;
  if (ParseDurationArg(s, &ago)) {
    at = absl::Now() - ago;
  } else if (!absl::ParseTime(absl::RFC3339_full, s, &at, &err)) {
    return false;
  }
  const int64_t ns = absl::ToUnixNanos(at);
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
  return true;
}

bool ParsePorts(const std::vector<std::string>& in,
                google::protobuf::RepeatedPtrField<nfr::v1::PortRange>* out, std::string* err) {
  for (const std::string& p : in) {
    std::vector<std::string> ab = absl::StrSplit(p, '-');
    uint32_t first = 0, last = 0;
    if (ab.size() > 2 || !absl::SimpleAtoi(ab[0], &first) ||
        (ab.size() == 2 && !absl::SimpleAtoi(ab[1], &last))) {
      *err = "port \"" + p + "\" is not PORT or FIRST-LAST";
      return false;
    }
    auto* r = out->Add();
    r->set_first(first);
    r->set_last(last);
  }
  return true;
}

bool PendingFilterFrom(const Args& a, nfr::v1::PendingFilter* f, std::string* err) {
  f->set_interface(a.Get("interface"));
  f->set_prefix(a.Get("prefix"));
  if (a.Has("protocol")) {
    nfr::v1::Protocol p;
    if (!ParseProtocol(a.Get("protocol"), &p)) {
      *err = "--protocol must be tcp, udp, icmp, icmpv6 or any";
      return false;
    }
    f->set_protocol(p);
  }
  return true;
}

bool DecisionFilterFrom(const Args& a, nfr::v1::DecisionFilter* f, std::string* err) {
  f->set_prefix(a.Get("prefix"));
  if (a.Has("verdict")) {
    nfr::v1::Verdict v;
    if (!ParseVerdict(a.Get("verdict"), &v)) {
      *err = "--verdict must be accept or drop";
      return false;
    }
    f->set_verdict(v);
  }
  if (a.Has("source")) {
    static const std::map<std::string, nfr::v1::DecisionSource> m = {
        {"policy", nfr::v1::DECISION_SOURCE_POLICY},
        {"controller", nfr::v1::DECISION_SOURCE_CONTROLLER},
        {"timeout", nfr::v1::DECISION_SOURCE_TIMEOUT},
        {"overflow", nfr::v1::DECISION_SOURCE_OVERFLOW}};
    auto it = m.find(a.Get("source"));
    if (it == m.end()) {
      *err = "--source must be policy, controller, timeout or overflow";
      return false;
    }
    f->set_source(it->second);
  }
  if (a.Has("since") && !ParseWhen(a.Get("since"), f->mutable_since())) {
    *err = "--since must be a duration ago (30m, 2h, 7d) or an RFC 3339 time";
    return false;
  }
  if (a.Has("until") && !ParseWhen(a.Get("until"), f->mutable_until())) {
    *err = "--until must be a duration ago (30m, 2h, 7d) or an RFC 3339 time";
    return false;
  }
  return true;
}

// ---- verbs -------------------------------------------------------------------

int RunStatus(const Args& a) {
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::AgentService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::AgentStatus st;
  grpc::Status s = stub->GetStatus(&ctx, {}, &st);
  if (!s.ok()) return ReportRpcError("status", s, a);
  std::cout << (JsonOutput(a) ? Json(st) + "\n" : StatusText(st));
  return kExitOk;
}

int PrintPolicy(const Args& a, const nfr::v1::Policy& p) {
  std::cout << (JsonOutput(a) ? Json(p, true) : PolicyTable(p));
  return kExitOk;
}

bool ExpectedVersion(const Args& a, uint64_t* v, bool* has) {
  *has = a.Has("expected-version");
  return !*has || absl::SimpleAtoi(a.Get("expected-version"), v);
}

int RunPolicyGet(const Args& a) {
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::PolicyService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::GetPolicyResponse resp;
  grpc::Status s = stub->GetPolicy(&ctx, {}, &resp);
  if (!s.ok()) return ReportRpcError("policy get", s, a);
  return PrintPolicy(a, resp.policy());
}

int RunPolicyApply(const Args& a) {
  if (!a.Has("file")) return Usage("policy apply needs -f FILE (a JSON nfr.v1.Policy; - = stdin)");
  std::string text;
  const std::string file = a.Get("file");
  if (file == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(file);
    if (!in) return Usage("cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  nfr::v1::ApplyPolicyRequest req;
  google::protobuf::util::JsonParseOptions jo;
  auto st = google::protobuf::util::JsonStringToMessage(text, req.mutable_policy(), jo);
  if (!st.ok()) {
    std::fprintf(stderr, "nfrctl: %s is not a JSON policy: %s\n", file.c_str(),
                 st.ToString().c_str());
    return kExitInvalid;
  }
  uint64_t expected = 0;
  bool has = false;
  if (!ExpectedVersion(a, &expected, &has)) return Usage("--expected-version must be a number");
  if (has) req.set_expected_version(expected);
  req.set_comment(a.Get("comment"));
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::PolicyService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::ApplyPolicyResponse resp;
  grpc::Status s = stub->ApplyPolicy(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError("policy apply", s, a);
  if (JsonOutput(a)) return PrintPolicy(a, resp.policy());
  std::cout << "applied: policy version " << resp.policy().version() << " ("
            << resp.policy().rules_size() << " rules)\n";
  return kExitOk;
}

int RunAddRule(const Args& a) {
  nfr::v1::AddRuleRequest req;
  nfr::v1::Rule* r = req.mutable_rule();
  if (!a.Has("id") || !a.Has("action")) return Usage("policy add-rule needs --id and --action");
  r->set_id(a.Get("id"));
  const std::string action = absl::AsciiStrToLower(a.Get("action"));
  if (action == "accept")
    r->set_action(nfr::v1::ACTION_ACCEPT);
  else if (action == "drop")
    r->set_action(nfr::v1::ACTION_DROP);
  else if (action == "ask")
    r->set_action(nfr::v1::ACTION_ASK);
  else
    return Usage("--action must be accept, drop or ask");
  r->set_interface(a.Get("interface"));
  if (a.Has("direction")) {
    const std::string d = a.Get("direction");
    if (d == "ingress")
      r->set_direction(nfr::v1::DIRECTION_INGRESS);
    else if (d == "egress")
      r->set_direction(nfr::v1::DIRECTION_EGRESS);
    else if (d != "any")
      return Usage("--direction must be ingress, egress or any");
  }
  if (a.Has("protocol")) {
    nfr::v1::Protocol p;
    if (!ParseProtocol(a.Get("protocol"), &p)) {
      return Usage("--protocol must be tcp, udp, icmp, icmpv6 or any");
    }
    r->set_protocol(p);
  }
  for (const std::string& p : a.GetAll("src")) r->add_src_prefixes(p);
  for (const std::string& p : a.GetAll("dst")) r->add_dst_prefixes(p);
  std::string err;
  if (!ParsePorts(a.GetAll("sport"), r->mutable_src_ports(), &err) ||
      !ParsePorts(a.GetAll("dport"), r->mutable_dst_ports(), &err)) {
    return Usage(err);
  }
  if (a.Has("ttl")) {
    absl::Duration d;
    if (!ParseDurationArg(a.Get("ttl"), &d))
      return Usage("--ttl must be a duration like 300s or 1h");
    r->set_ttl_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(d)));
  }
  r->set_comment(a.Get("comment"));
  if (a.Has("position")) {
    uint32_t pos;
    if (!absl::SimpleAtoi(a.Get("position"), &pos)) return Usage("--position must be a number");
    req.set_position(pos);
  }
  uint64_t expected = 0;
  bool has = false;
  if (!ExpectedVersion(a, &expected, &has)) return Usage("--expected-version must be a number");
  if (has) req.set_expected_version(expected);
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::PolicyService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::AddRuleResponse resp;
  grpc::Status s = stub->AddRule(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError("policy add-rule", s, a);
  if (JsonOutput(a)) return PrintPolicy(a, resp.policy());
  std::cout << "added rule " << r->id() << ": policy version " << resp.policy().version() << "\n";
  return kExitOk;
}

int RunRmRule(const Args& a) {
  if (a.positional.size() != 3) return Usage("policy rm-rule needs exactly one rule ID");
  nfr::v1::RemoveRuleRequest req;
  req.set_rule_id(a.positional[2]);
  uint64_t expected = 0;
  bool has = false;
  if (!ExpectedVersion(a, &expected, &has)) return Usage("--expected-version must be a number");
  if (has) req.set_expected_version(expected);
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::PolicyService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::RemoveRuleResponse resp;
  grpc::Status s = stub->RemoveRule(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError("policy rm-rule", s, a);
  if (JsonOutput(a)) return PrintPolicy(a, resp.policy());
  std::cout << "removed rule " << req.rule_id() << ": policy version " << resp.policy().version()
            << "\n";
  return kExitOk;
}

int RunPendingList(const Args& a) {
  nfr::v1::ListPendingRequest req;
  std::string err;
  if (!PendingFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::ConnectionService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::ListPendingResponse resp;
  grpc::Status s = stub->ListPending(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError("pending list", s, a);
  if (JsonOutput(a)) {
    for (const auto& p : resp.pending()) std::cout << Json(p) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const auto& p : resp.pending()) rows.push_back(PendingRow(p));
  std::cout << Table(PendingHeader(), rows);
  return kExitOk;
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

int RunPendingWatch(const Args& a) {
  nfr::v1::WatchPendingRequest req;
  std::string err;
  if (!PendingFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  int64_t count = -1;
  if (a.Has("count") && !absl::SimpleAtoi(a.Get("count"), &count)) {
    return Usage("--count must be a number");
  }
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::ConnectionService::NewStub(ch);
  grpc::ClientContext ctx;
  auto reader = stub->WatchPending(&ctx, req);
  const bool json = JsonOutput(a);
  const bool live = !json && !a.Has("no-tty") && isatty(STDOUT_FILENO);
  std::map<uint64_t, nfr::v1::PendingConnection> table;
  std::vector<std::string> recent;
  uint64_t lost = 0;
  bool snapshot_done = false;
  nfr::v1::PendingEvent e;
  int64_t live_events = 0;
  while (reader->Read(&e)) {
    if (json) {
      std::cout << Json(e) << std::endl;
    } else if (!live) {
      std::cout << EventLine(e) << std::endl;
    } else {
      if (e.has_snapshot()) table[e.snapshot().id()] = e.snapshot();
      if (e.has_added()) table[e.added().id()] = e.added();
      if (e.has_resolved()) table.erase(e.resolved().pending().id());
      if (e.has_expired()) table.erase(e.expired().pending().id());
      if (e.has_lost()) lost += e.lost().count();
      if (e.has_snapshot_done()) snapshot_done = true;
      if (!e.has_snapshot() && !e.has_snapshot_done()) {
        recent.push_back(EventLine(e));
        if (recent.size() > 5) recent.erase(recent.begin());
      }
      if (snapshot_done) {
        std::vector<Row> rows;
        for (const auto& [id, p] : table) rows.push_back(PendingRow(p));
        std::cout << "\033[H\033[2J"
                  << "nfrctl pending watch — " << table.size() << " pending"
                  << (lost ? absl::StrCat(", ", lost, " events lost") : "")
                  << "  (Ctrl-C to stop)\n\n"
                  << Table(PendingHeader(), rows) << "\n";
        for (const std::string& l : recent) std::cout << "  " << l << "\n";
        std::cout << std::flush;
      }
    }
    if (!e.has_snapshot() && !e.has_snapshot_done() && count >= 0 && ++live_events >= count) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::CANCELLED) return ReportRpcError("pending watch", s, a);
  return kExitOk;
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
  if (a.Has("for")) {
    absl::Duration d;
    if (!ParseDurationArg(a.Get("for"), &d) || d <= absl::ZeroDuration()) {
      return Usage("--for must be a positive duration like 30s, 10m, 1h");
    }
    req.set_scope(nfr::v1::DECISION_SCOPE_FLOW);
    req.set_ttl_seconds(static_cast<uint32_t>(std::max<int64_t>(1, absl::ToInt64Seconds(d))));
  }
  if (a.Has("rule")) req.set_scope(nfr::v1::DECISION_SCOPE_RULE);
  if (a.Has("rule-id")) {
    if (!a.Has("rule")) return Usage("--rule-id needs --rule");
    req.set_rule_id(a.Get("rule-id"));
  }
  req.set_reason(a.Get("reason"));
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::ConnectionService::NewStub(ch);
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  nfr::v1::DecideResponse resp;
  grpc::Status s = stub->Decide(&ctx, req, &resp);
  if (!s.ok()) return ReportRpcError("decide", s, a);
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
  uint32_t ttl = 0;
  if (a.Has("for")) {
    absl::Duration d;
    if (!ParseDurationArg(a.Get("for"), &d) || d <= absl::ZeroDuration()) {
      return Usage("--for must be a positive duration like 30s, 10m, 1h");
    }
    ttl = static_cast<uint32_t>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
  }
  int64_t count = -1;
  if (a.Has("count") && !absl::SimpleAtoi(a.Get("count"), &count)) {
    return Usage("--count must be a number");
  }
  NFR_CONNECT(a, ch);
  auto conn = nfr::v1::ConnectionService::NewStub(ch);
  grpc::ClientContext ctx;
  auto reader = conn->WatchPending(&ctx, req);
  nfr::v1::PendingEvent e;
  int64_t decided = 0;
  while (reader->Read(&e)) {
    if (!e.has_snapshot() && !e.has_added()) continue;
    const nfr::v1::PendingConnection& p = e.has_snapshot() ? e.snapshot() : e.added();
    nfr::v1::DecideRequest d;
    d.set_pending_id(p.id());
    d.set_verdict(verdict);
    d.set_scope(ttl ? nfr::v1::DECISION_SCOPE_FLOW : nfr::v1::DECISION_SCOPE_ONCE);
    d.set_ttl_seconds(ttl);
    d.set_reason(a.Get("reason", "nfrctl pending autodecide"));
    grpc::ClientContext dctx;
    SetDeadline(a, &dctx);
    nfr::v1::DecideResponse resp;
    grpc::Status s = conn->Decide(&dctx, d, &resp);
    if (s.error_code() == grpc::NOT_FOUND) continue;  // expired or decided by someone else
    if (!s.ok()) {
      ctx.TryCancel();
      return ReportRpcError("pending autodecide", s, a);
    }
    if (JsonOutput(a)) {
      std::cout << Json(resp.decision()) << std::endl;
    } else {
      std::cout << VerdictName(verdict) << " " << p.id() << " " << FlowText(p.flow()) << std::endl;
    }
    if (count >= 0 && ++decided >= count) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::CANCELLED) {
    return ReportRpcError("pending autodecide", s, a);
  }
  return kExitOk;
}

int RunDecisionsList(const Args& a) {
  nfr::v1::ListDecisionsRequest req;
  std::string err;
  if (!DecisionFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  int64_t limit = 50;
  if (a.Has("limit") && (!absl::SimpleAtoi(a.Get("limit"), &limit) || limit < 1)) {
    return Usage("--limit must be a positive number");
  }
  uint32_t page = 0;
  if (a.Has("page-size") && !absl::SimpleAtoi(a.Get("page-size"), &page)) {
    return Usage("--page-size must be a number");
  }
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::DecisionService::NewStub(ch);
  std::vector<nfr::v1::Decision> all;
  while (static_cast<int64_t>(all.size()) < limit) {
    req.set_page_size(page ? page
                           : static_cast<uint32_t>(std::min<int64_t>(limit - all.size(), 1000)));
    grpc::ClientContext ctx;
    SetDeadline(a, &ctx);
    nfr::v1::ListDecisionsResponse resp;
    grpc::Status s = stub->ListDecisions(&ctx, req, &resp);
    if (!s.ok()) return ReportRpcError("decisions list", s, a);
    for (const auto& d : resp.decisions()) {
      if (static_cast<int64_t>(all.size()) < limit) all.push_back(d);
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  if (JsonOutput(a)) {
    for (const auto& d : all) std::cout << Json(d) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const auto& d : all) rows.push_back(DecisionRow(d));
  std::cout << Table(DecisionHeader(), rows);
  return kExitOk;
}

int RunDecisionsWatch(const Args& a) {
  nfr::v1::WatchDecisionsRequest req;
  std::string err;
  if (!DecisionFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  int64_t count = -1;
  if (a.Has("count") && !absl::SimpleAtoi(a.Get("count"), &count)) {
    return Usage("--count must be a number");
  }
  NFR_CONNECT(a, ch);
  auto stub = nfr::v1::DecisionService::NewStub(ch);
  grpc::ClientContext ctx;
  auto reader = stub->WatchDecisions(&ctx, req);
  nfr::v1::DecisionEvent e;
  int64_t n = 0;
  while (reader->Read(&e)) {
    if (JsonOutput(a)) {
      std::cout << Json(e) << std::endl;
    } else if (e.has_lost()) {
      std::cout << "lost " << e.lost().count() << " events (reader too slow)" << std::endl;
    } else {
      const nfr::v1::Decision& d = e.decision();
      std::cout << TimeText(d.time()) << " " << VerdictName(d.verdict()) << " "
                << FlowText(d.flow()) << " (" << SourceName(d.source())
                << (d.rule_id().empty() ? "" : " rule " + d.rule_id())
                << (d.decider().empty() ? "" : " by " + d.decider()) << ")" << std::endl;
    }
    if (count >= 0 && ++n >= count) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::CANCELLED) return ReportRpcError("decisions watch", s, a);
  return kExitOk;
}

}  // namespace

const std::vector<Verb>& Verbs() {
  static const auto* v = new std::vector<Verb>{
      {"status",
       "",
       "status",
       "show the agent's mode, interfaces, queues, counters and your role",
       "",
       {},
       RunStatus},
      {"policy",
       "get",
       "policy get [-o json]",
       "show the installed policy (-o json prints a file policy apply accepts)",
       "",
       {},
       RunPolicyGet},
      {"policy",
       "apply",
       "policy apply -f FILE [--expected-version N] [--comment TEXT]",
       "replace the whole policy with FILE (JSON nfr.v1.Policy; - reads stdin)",
       "  -f, --file FILE          JSON policy (protobuf JSON mapping)\n"
       "  --expected-version N     refuse (exit 6) unless the agent is at version N\n"
       "  --comment TEXT           stored with the new version\n",
       {"file", "expected-version", "comment"},
       RunPolicyApply},
      {"policy",
       "add-rule",
       "policy add-rule --id ID --action accept|drop|ask [matchers] [--position N]",
       "insert one rule (appended unless --position; 0 = first)",
       "  --id ID                  unique rule id ([A-Za-z0-9_.-], 1..64)\n"
       "  --action A               accept, drop or ask (hold for a controller)\n"
       "  --interface DEV          match one interface\n"
       "  --direction D            ingress, egress or any\n"
       "  --protocol P             tcp, udp, icmp, icmpv6 or any\n"
       "  --src CIDR[,CIDR]        source prefixes (repeatable)\n"
       "  --dst CIDR[,CIDR]        destination prefixes (repeatable)\n"
       "  --sport P[-Q][,..]       source ports (TCP/UDP)\n"
       "  --dport P[-Q][,..]       destination ports (TCP/UDP)\n"
       "  --ttl DURATION           flow-cache lifetime of the verdict\n"
       "  --comment TEXT\n"
       "  --position N             index to insert at\n"
       "  --expected-version N     refuse unless the policy is at version N\n",
       {"id", "action", "interface", "direction", "protocol", "src", "dst", "sport", "dport", "ttl",
        "comment", "position", "expected-version"},
       RunAddRule},
      {"policy",
       "rm-rule",
       "policy rm-rule ID [--expected-version N]",
       "remove one rule",
       "  --expected-version N     refuse unless the policy is at version N\n",
       {"expected-version"},
       RunRmRule},
      {"pending",
       "list",
       "pending list [--interface DEV] [--protocol P] [--prefix CIDR]",
       "list connections waiting for a decision",
       "  --interface DEV, --protocol P, --prefix CIDR (matches source or destination)\n",
       {"interface", "protocol", "prefix"},
       RunPendingList},
      {"pending",
       "watch",
       "pending watch [--interface DEV] [--protocol P] [--prefix CIDR] [--count N]",
       "follow pending connections: a live table on a terminal, one line per event otherwise",
       "  --interface DEV, --protocol P, --prefix CIDR (matches source or destination)\n"
       "  --count N                exit after N live events (after the snapshot)\n"
       "  --no-tty                 print lines even on a terminal\n"
       "  Lines: pending|added ID FLOW, snapshot N pending, resolved|expired ID VERDICT SCOPE\n"
       "  FLOW, lost N events.\n",
       {"interface", "protocol", "prefix", "count", "no-tty"},
       RunPendingWatch},
      {"pending",
       "autodecide",
       "pending autodecide accept|drop [--for DURATION] [--interface DEV] [--protocol P] "
       "[--prefix CIDR] [--count N]",
       "a scripted controller: decide every pending connection (present and future) at once",
       "  --for DURATION           cache each verdict for its flow (default: once)\n"
       "  --interface, --protocol, --prefix   only these connections\n"
       "  --count N                exit after N decisions\n"
       "  --reason TEXT            recorded in the decision log\n"
       "  Prints one line per decision. For labs, demos and latency measurements.\n",
       {"for", "interface", "protocol", "prefix", "count", "reason"},
       RunAutodecide},
      {"decide",
       "",
       "decide ID accept|drop [--for DURATION | --rule [--rule-id ID]] [--reason TEXT]",
       "decide a pending connection: once (default), for this flow for DURATION, or as a new "
       "rule",
       "  --for DURATION           cache the verdict for this flow (30s, 10m, 1h)\n"
       "  --rule                   add a rule (same source host, destination host and port,\n"
       "                           interface, direction) so later connections need no question\n"
       "  --rule-id ID             id of that rule (default decided-<ID>)\n"
       "  --reason TEXT            recorded in the decision log\n",
       {"for", "rule", "rule-id", "reason"},
       RunDecide},
      {"decisions",
       "list",
       "decisions list [--since WHEN] [--until WHEN] [--verdict V] [--prefix CIDR] [--source S] "
       "[--limit N]",
       "show the decision log, newest first",
       "  --since/--until WHEN     a duration ago (30m, 2h, 7d) or an RFC 3339 time\n"
       "  --verdict accept|drop\n"
       "  --prefix CIDR            source or destination inside\n"
       "  --source S               policy, controller, timeout or overflow\n"
       "  --limit N                at most N entries (default 50)\n"
       "  --page-size N            entries per request (default: up to 1000)\n",
       {"since", "until", "verdict", "prefix", "source", "limit", "page-size"},
       RunDecisionsList},
      {"decisions",
       "watch",
       "decisions watch [--verdict V] [--prefix CIDR] [--source S] [--count N]",
       "follow decisions as they are made",
       "  --verdict, --prefix, --source as for decisions list\n"
       "  --count N                exit after N decisions\n",
       {"verdict", "prefix", "source", "count"},
       RunDecisionsWatch},
  };
  return *v;
}

std::string GlobalHelp() {
  std::string out =
      "nfrctl — control nfr-agent: policy, pending connections, decisions.\n\n"
      "usage: nfrctl [global flags] NOUN VERB [args] [flags]\n\n"
      "commands:\n";
  for (const Verb& v : Verbs()) {
    out += absl::StrCat("  ", v.usage, "\n      ", v.summary, "\n");
  }
  out +=
      "\nglobal flags:\n"
      "  --target T        unix:///run/nfr/agent.sock (default) or host:port (TLS)\n"
      "  --ca FILE         CA certificate that signed the agent's server certificate\n"
      "  --cert FILE       client certificate (the agent maps it to a role)\n"
      "  --key FILE        client private key\n"
      "  --server-name N   expected server certificate name (default: the host)\n"
      "  --insecure        plaintext TCP (only against an agent started with insecure_tcp)\n"
      "  -o, --output F    table (default) or json\n"
      "  --timeout D       deadline for single requests (default 10s)\n"
      "  -h, --help        help; works after any noun or verb\n\n"
      "exit codes:\n"
      "  0 ok   1 usage error   2 agent unreachable / RPC failure   3 not found\n"
      "  4 permission denied    5 request refused as invalid        6 conflict (stale\n"
      "  --expected-version, id already exists)\n";
  return out;
}

std::string VerbHelp(const Verb& v) {
  std::string out = absl::StrCat("usage: nfrctl ", v.usage, "\n\n", v.summary, "\n");
  if (!v.details.empty()) out += "\n" + v.details;
  out +=
      "\nglobal flags: --target, --ca, --cert, --key, --insecure, -o table|json, --timeout "
      "(nfrctl --help)\n";
  return out;
}

}  // namespace nfrctl
