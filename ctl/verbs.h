// nfrctl verbs: each takes parsed arguments and returns an exit code
// (commands.cc lists them with their help).
#pragma once

#include <string>

#include "ctl/args.h"
#include "nfr/v1/connection_service.pb.h"

namespace nfrctl {

int RunStatus(const Args& a);
int RunPolicyGet(const Args& a);
int RunPolicyApply(const Args& a);
int RunAddRule(const Args& a);
int RunRmRule(const Args& a);
int RunSetAdd(const Args& a);
int RunSetRm(const Args& a);
int RunSetList(const Args& a);
int RunSetImport(const Args& a);
int RunPendingList(const Args& a);
int RunPendingWatch(const Args& a);
int RunAutodecide(const Args& a);
int RunDecide(const Args& a);
int RunDecisionsList(const Args& a);
int RunDecisionsWatch(const Args& a);
int RunFlowsList(const Args& a);
int RunFlowsRm(const Args& a);
int RunFlowsDeny(const Args& a);
int RunFleetLs(const Args& a);
int RunFleetRollout(const Args& a);
int RunFleetRollouts(const Args& a);
int RunFleetWatch(const Args& a);
int RunFleetDecisions(const Args& a);

// One line per pending event (pending watch, fleet watch).
std::string EventLine(const nfr::v1::PendingEvent& e);

}  // namespace nfrctl
