#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "ctl/format.h"
#include "ctl/rpc_call.h"
#include "ctl/verb_flags.h"
#include "ctl/verbs.h"
#include "nfr/v1/flow_service.grpc.pb.h"

namespace nfrctl {

using nfr::v1::FlowService;

int RunFlowsList(const Args& a) {
  nfr::v1::ListFlowsRequest req;
  std::string err;
  if (!FlowFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  int64_t limit = 100;
  if (a.Has("limit") && (!absl::SimpleAtoi(a.Get("limit"), &limit) || limit < 1)) {
    return Usage("--limit must be a positive number");
  }
  auto stub = Dial<FlowService::Stub>(a);
  if (stub == nullptr) return kExitUsage;
  std::vector<nfr::v1::FlowEntry> all;
  while (static_cast<int64_t>(all.size()) < limit) {
    req.set_page_size(static_cast<uint32_t>(std::min<int64_t>(limit - all.size(), 1000)));
    nfr::v1::ListFlowsResponse resp;
    grpc::Status s = Call(a, *stub, &FlowService::Stub::ListFlows, req, &resp);
    if (!s.ok()) return ReportRpcError("flows list", s, a);
    for (const auto& f : resp.flows()) all.push_back(f);
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return PrintList(a, all, FlowEntryHeader(), FlowEntryRow);
}

namespace {

int ChangeFlows(const Args& a, const char* verb,
                grpc::Status (FlowService::Stub::*method)(grpc::ClientContext*,
                                                          const nfr::v1::ChangeFlowsRequest&,
                                                          nfr::v1::ChangeFlowsResponse*)) {
  nfr::v1::ChangeFlowsRequest req;
  std::string err;
  if (!FlowFilterFrom(a, req.mutable_filter(), &err)) return Usage(err);
  const bool any_filter = a.Has("interface") || a.Has("protocol") || a.Has("prefix") ||
                          a.Has("verdict") || a.Has("origin");
  if (!any_filter && !a.Has("all")) {
    return Usage(std::string(verb) +
                 " needs a filter (--interface, --protocol, --prefix, --verdict, --origin) or "
                 "--all for every cached flow");
  }
  uint32_t limit = 0;
  if (a.Has("limit") && (!absl::SimpleAtoi(a.Get("limit"), &limit) || limit < 1)) {
    return Usage("--limit must be a positive number");
  }
  req.set_limit(limit);
  req.set_reason(a.Get("reason"));
  nfr::v1::ChangeFlowsResponse resp;
  if (int rc = CallUnary(a, verb, method, req, &resp)) return rc;
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
    return kExitOk;
  }
  std::cout << resp.changed() << (method == &FlowService::Stub::DenyFlows ? " denied" : " deleted")
            << " of " << resp.matched() << " matching";
  if (resp.matched() > resp.changed()) std::cout << "; run again for the rest";
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

int RunFlowsRm(const Args& a) {
  return ChangeFlows(a, "flows rm", &FlowService::Stub::DeleteFlows);
}

int RunFlowsDeny(const Args& a) {
  return ChangeFlows(a, "flows deny", &FlowService::Stub::DenyFlows);
}

}  // namespace nfrctl
