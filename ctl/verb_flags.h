// nfrctl verb flags -> nfr.v1 request fields (protocols, verdicts, durations,
// ports, filters), and the -o table|json choice for lists.
#pragma once

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "ctl/args.h"
#include "ctl/format.h"
#include "nfr/v1/connection_service.pb.h"
#include "nfr/v1/decision_service.pb.h"
#include "nfr/v1/flow_service.pb.h"
#include "nfr/v1/policy.pb.h"

namespace nfrctl {

bool JsonOutput(const Args& a);

bool ParseProtocol(const std::string& s, nfr::v1::Protocol* p);
bool ParseVerdict(const std::string& s, nfr::v1::Verdict* v);
// A duration (300s, 1h) or whole days (7d).
bool ParseDurationArg(const std::string& s, absl::Duration* d);
// "30m" (ago) or an RFC 3339 time.
bool ParseWhen(const std::string& s, google::protobuf::Timestamp* t);
// PORT or FIRST-LAST each.
bool ParsePorts(const std::vector<std::string>& in,
                google::protobuf::RepeatedPtrField<nfr::v1::PortRange>* out, std::string* err);
bool PendingFilterFrom(const Args& a, nfr::v1::PendingFilter* f, std::string* err);
bool DecisionFilterFrom(const Args& a, nfr::v1::DecisionFilter* f, std::string* err);
// The pending filter flags plus --verdict and --origin.
bool FlowFilterFrom(const Args& a, nfr::v1::FlowEntryFilter* f, std::string* err);

// --count N; -1 when absent.
bool CountFlag(const Args& a, int64_t* count);
// --for DURATION as whole seconds (at least 1); 0 when absent.
bool ForFlag(const Args& a, uint32_t* ttl);

// --expected-version N into `req` when given.
template <typename Req>
bool ExpectedVersionFlag(const Args& a, Req* req) {
  if (!a.Has("expected-version")) return true;
  uint64_t v;
  if (!absl::SimpleAtoi(a.Get("expected-version"), &v)) return false;
  req->set_expected_version(v);
  return true;
}

// One JSON object per line, or a table.
template <typename Items, typename RowFn>
int PrintList(const Args& a, const Items& items, const Row& header, RowFn row) {
  if (JsonOutput(a)) {
    for (const auto& i : items) std::cout << Json(i) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const auto& i : items) rows.push_back(row(i));
  std::cout << Table(header, rows);
  return kExitOk;
}

}  // namespace nfrctl
