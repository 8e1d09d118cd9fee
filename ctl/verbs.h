// nfrctl verbs: each takes parsed arguments and returns an exit code
// (commands.cc lists them with their help).
#pragma once

#include "ctl/args.h"

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

}  // namespace nfrctl
