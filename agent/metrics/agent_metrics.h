// nfr-agent's metric families (docs/fleet.md lists them), rendered from the
// same AgentStatus the API's GetStatus returns.
#pragma once

#include <string>

#include "nfr/v1/agent_service.pb.h"

namespace nfr {

std::string RenderAgentMetrics(const nfr::v1::AgentStatus& status);

}  // namespace nfr
