// nfrctl fleet ...: FleetService at a fleet gateway (nfr-fleetd).
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ctl/format.h"
#include "ctl/rpc_call.h"
#include "ctl/verb_flags.h"
#include "ctl/verbs.h"
#include "nfr/v1/fleet.grpc.pb.h"

namespace nfrctl {

using nfr::v1::FleetService;

namespace {

std::string Labels(const google::protobuf::Map<std::string, std::string>& m) {
  std::map<std::string, std::string> sorted(m.begin(), m.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

bool ReadText(const std::string& path, std::string* text) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) return false;
    ss << in.rdbuf();
  }
  *text = ss.str();
  return true;
}

}  // namespace

int RunFleetLs(const Args& a) {
  nfr::v1::ListAgentsRequest req;
  req.set_selector(a.Get("selector"));
  nfr::v1::ListAgentsResponse resp;
  if (int rc = CallUnary(a, "fleet ls", &FleetService::Stub::ListAgents, req, &resp)) return rc;
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const nfr::v1::FleetAgent& g : resp.agents()) {
    rows.push_back({g.id(), g.connected() ? "up" : "down", Labels(g.labels()), g.version(),
                    g.mode(), absl::StrCat(g.policy_version()), absl::StrCat(g.pending()),
                    g.has_connected_since() ? TimeText(g.connected_since()) : "-",
                    TimeText(g.last_seen()), absl::StrCat(g.acked_decision_id())});
  }
  std::cout << Table({"AGENT", "LINK", "LABELS", "VERSION", "MODE", "POLICY", "PENDING",
                      "CONNECTED SINCE", "LAST SEEN", "ACKED"},
                     rows);
  return kExitOk;
}

int RunFleetRollout(const Args& a) {
  if (!a.Has("file")) return Usage("fleet rollout needs -f FILE (a JSON nfr.v1.Policy)");
  std::string text;
  if (!ReadText(a.Get("file"), &text)) return Usage("cannot read " + a.Get("file"));
  nfr::v1::RolloutRequest req;
  if (auto st = google::protobuf::util::JsonStringToMessage(text, req.mutable_policy()); !st.ok()) {
    std::fprintf(stderr, "nfrctl: %s is not a JSON policy: %s\n", a.Get("file").c_str(),
                 st.ToString().c_str());
    return kExitInvalid;
  }
  req.set_selector(a.Get("selector"));
  req.set_comment(a.Get("comment"));
  if (a.Has("expected-version")) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(a.Get("expected-version"), &v)) {
      return Usage("--expected-version must be a number");
    }
    req.set_expected_group_version(v);
  }
  nfr::v1::RolloutResponse resp;
  grpc::ClientContext ctx;
  // A rollout waits for every agent (10 s each at most, in parallel).
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<FleetService::Stub> stub = Dial<FleetService::Stub>(a);
  if (stub == nullptr) return kExitUsage;
  if (grpc::Status s = stub->Rollout(&ctx, req, &resp); !s.ok()) {
    return ReportRpcError("fleet rollout", s, a);
  }
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
  } else {
    std::vector<Row> rows;
    int failed = 0;
    for (const nfr::v1::RolloutResult& r : resp.results()) {
      failed += !r.ok();
      rows.push_back({r.agent_id(), r.ok() ? "applied" : "FAILED",
                      r.ok() ? absl::StrCat(r.applied_version()) : "-",
                      absl::StrCat(r.latency_ms(), "ms"), r.error()});
    }
    std::cout << Table({"AGENT", "RESULT", "VERSION", "LATENCY", "ERROR"}, rows);
    std::cout << "rollout " << resp.rollout_id() << ": group version " << resp.group_version()
              << ", " << resp.results_size() - failed << "/" << resp.results_size() << " agents in "
              << resp.elapsed_ms() << " ms\n";
  }
  for (const auto& r : resp.results()) {
    if (!r.ok()) return kExitRpc;
  }
  return kExitOk;
}

int RunFleetRollouts(const Args& a) {
  nfr::v1::ListRolloutsRequest req;
  uint32_t limit = 0;
  if (a.Has("limit") && !absl::SimpleAtoi(a.Get("limit"), &limit)) {
    return Usage("--limit must be a number");
  }
  req.set_limit(limit);
  nfr::v1::ListRolloutsResponse resp;
  if (int rc = CallUnary(a, "fleet rollouts", &FleetService::Stub::ListRollouts, req, &resp)) {
    return rc;
  }
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const auto& r : resp.rollouts()) {
    rows.push_back({absl::StrCat(r.rollout_id()), TimeText(r.time()), r.selector(),
                    absl::StrCat(r.group_version()), r.author(),
                    absl::StrCat(r.agents() - r.failed(), "/", r.agents()), r.comment()});
  }
  std::cout << Table({"ID", "TIME", "SELECTOR", "GROUP VERSION", "AUTHOR", "APPLIED", "COMMENT"},
                     rows);
  return kExitOk;
}

int RunFleetWatch(const Args& a) {
  nfr::v1::FleetWatchRequest req;
  req.set_selector(a.Get("selector"));
  int64_t count = -1;
  if (!CountFlag(a, &count)) return Usage("--count must be a positive number");
  std::unique_ptr<FleetService::Stub> stub = Dial<FleetService::Stub>(a);
  if (stub == nullptr) return kExitUsage;
  int64_t seen = 0;
  return ReadStream(a, "fleet watch", *stub, &FleetService::Stub::WatchPending, req,
                    [&](const nfr::v1::FleetPendingEvent& e) {
                      if (JsonOutput(a)) {
                        std::cout << Json(e) << std::endl;
                      } else {
                        std::cout << (e.agent_id().empty() ? "-" : e.agent_id()) << " "
                                  << EventLine(e.event()) << std::endl;
                      }
                      return count < 0 || ++seen < count;
                    });
}

int RunFleetDecisions(const Args& a) {
  if (a.positional.size() < 3) return Usage("fleet decisions needs the agent id");
  nfr::v1::ListUploadedDecisionsRequest req;
  req.set_agent_id(a.positional[2]);
  uint64_t after = 0;
  uint32_t limit = 0;
  if (a.Has("after") && !absl::SimpleAtoi(a.Get("after"), &after)) {
    return Usage("--after must be a decision id");
  }
  if (a.Has("limit") && !absl::SimpleAtoi(a.Get("limit"), &limit)) {
    return Usage("--limit must be a number");
  }
  req.set_after_id(after);
  req.set_limit(limit);
  nfr::v1::ListUploadedDecisionsResponse resp;
  if (int rc =
          CallUnary(a, "fleet decisions", &FleetService::Stub::ListUploadedDecisions, req, &resp)) {
    return rc;
  }
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const auto& d : resp.decisions()) rows.push_back(DecisionRow(d));
  std::cout << Table(DecisionHeader(), rows);
  return kExitOk;
}

}  // namespace nfrctl
