// nfrctl output: aligned tables, one-line JSON, and short names for the
// nfr.v1 enums and records.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <vector>

#include "nfr/v1/agent_service.pb.h"
#include "nfr/v1/flow.pb.h"
#include "nfr/v1/flow_service.pb.h"
#include "nfr/v1/policy.pb.h"

namespace nfrctl {

using Row = std::vector<std::string>;

std::string Table(const Row& header, const std::vector<Row>& rows);
std::string Json(const google::protobuf::Message& m, bool pretty = false);

std::string VerdictName(nfr::v1::Verdict v);
std::string ActionName(nfr::v1::Action a);
std::string ScopeName(nfr::v1::DecisionScope s);
std::string SourceName(nfr::v1::DecisionSource s);
std::string ProtocolName(nfr::v1::Protocol p);
std::string DirectionName(nfr::v1::Direction d);
std::string Endpoint(const std::string& addr, uint32_t port, bool with_port);
std::string FlowText(
    const nfr::v1::Flow& f);  // "tcp 10.77.0.2:41234 -> 10.77.1.2:80 dev r-cli ingress"
std::string TimeText(const google::protobuf::Timestamp& t);  // UTC "2026-11-26 22:50:01.123"
std::string Until(const google::protobuf::Timestamp& t);     // "4.2s" from now, or "due"

Row PendingHeader();
Row PendingRow(const nfr::v1::PendingConnection& p);
Row DecisionHeader();
Row DecisionRow(const nfr::v1::Decision& d);
Row FlowEntryHeader();
Row FlowEntryRow(const nfr::v1::FlowEntry& e);
std::string OriginName(nfr::v1::FlowOrigin o);
std::string PolicyTable(const nfr::v1::Policy& p);
std::string StatusText(const nfr::v1::AgentStatus& s);

}  // namespace nfrctl
