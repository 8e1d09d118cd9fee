// nfr-fleetd: the fleet gateway. Agents dial in over mTLS (ControllerLink);
// controllers and nfrctl get the nfr.v1 services routed by agent id plus
// FleetService. Runs until SIGTERM/SIGINT. See docs/fleet.md.
#include <google/protobuf/util/json_util.h>
#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"
#include "fleetd/fleetd_server.h"

namespace {

constexpr char kUsage[] = R"(nfr-fleetd: fleet gateway for nfr-agent.

Usage: nfr-fleetd --config=FILE [--check_config]

Agents dial out to link_listen (mTLS; only certificates signed by the fleet CA
in link_tls.client_ca_file; the agent id is the certificate CN). Controllers
and nfrctl use api_listen (mTLS, api_tls.client_ca_file): the nfr.v1 services
routed to the agent named in the nfr-agent-id request metadata (nfrctl --agent
ID), and FleetService (nfrctl fleet ls | rollout | pending watch).
Configuration: JSON, proto/nfr/v1/fleetd_config.proto; docs/fleet.md.

Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for an
invalid configuration or flag.
)";

// Blocks SIGTERM/SIGINT in every thread (call before any exists); returns the set.
sigset_t BlockTermination() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "nfr-fleetd: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--check_config") {
      check = true;
    } else {
      return Fail(2, absl::StrCat("unknown argument ", a, " (see --help)"));
    }
  }
  if (config_path.empty()) return Fail(2, "--config=FILE is required (see --help)");
  std::ifstream in(config_path);
  if (!in) return Fail(2, absl::StrCat("config file ", config_path, ": ", std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  nfr::v1::FleetdConfig config;
  google::protobuf::util::JsonParseOptions opts;
  if (auto s = google::protobuf::util::JsonStringToMessage(ss.str(), &config, opts); !s.ok()) {
    return Fail(2, absl::StrCat("config file ", config_path,
                                ": not a valid nfr.v1.FleetdConfig: ", std::string(s.message()),
                                "; see proto/nfr/v1/fleetd_config.proto"));
  }
  nfr::ApplyFleetdDefaults(config);
  if (check) {
    std::string out;
    google::protobuf::util::JsonPrintOptions po;
    po.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(config, &out, po);
    std::cout << out;
    return 0;
  }
  const sigset_t term = BlockTermination();
  auto server = nfr::FleetdServer::Start(config);
  if (!server.ok()) {
    return Fail(server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1,
                absl::StrCat("config file ", config_path, ": ", server.status().message()));
  }
  nfr::LogLine(absl::StrCat("nfr-fleetd: ", config.name(), " serving links on ",
                            config.link_listen(), " (port ", (*server)->link_port(),
                            "), controllers on ", config.api_listen(), " (port ",
                            (*server)->api_port(), ")"));
  int sig = 0;
  while (sigwait(&term, &sig) != 0) {
  }
  nfr::LogLine(absl::StrCat("nfr-fleetd: ", sig == SIGINT ? "SIGINT" : "SIGTERM",
                            " received, shutting down"));
  (*server)->Stop();
  return 0;
}
