#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "ctl/format.h"
#include "ctl/rpc_call.h"
#include "ctl/verb_flags.h"
#include "ctl/verbs.h"
#include "nfr/v1/decision_service.grpc.pb.h"

namespace nfrctl {

using nfr::v1::DecisionService;

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
  auto stub = Dial<DecisionService::Stub>(a);
  if (stub == nullptr) return kExitUsage;
  std::vector<nfr::v1::Decision> all;
  while (static_cast<int64_t>(all.size()) < limit) {
    req.set_page_size(page ? page
                           : static_cast<uint32_t>(std::min<int64_t>(limit - all.size(), 1000)));
    nfr::v1::ListDecisionsResponse resp;
    grpc::Status s = Call(a, *stub, &DecisionService::Stub::ListDecisions, req, &resp);
    if (!s.ok()) return ReportRpcError("decisions list", s, a);
    for (const auto& d : resp.decisions()) {
      if (static_cast<int64_t>(all.size()) < limit) all.push_back(d);
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return PrintList(a, all, DecisionHeader(), DecisionRow);
}

int RunDecisionsWatch(const Args& a) {
  nfr::v1::WatchDecisionsRequest req;
  std::string err;
  if (!DecisionFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  int64_t count;
  if (!CountFlag(a, &count)) return Usage("--count must be a number");
  auto stub = Dial<DecisionService::Stub>(a);
  if (stub == nullptr) return kExitUsage;
  int64_t n = 0;
  return ReadStream(
      a, "decisions watch", *stub, &DecisionService::Stub::WatchDecisions, req,
      [&](const nfr::v1::DecisionEvent& e) {
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
        return count < 0 || ++n < count;
      });
}

}  // namespace nfrctl
