// nfr-fleetd as a whole: its store, the registry, the link listener (agents,
// fleet CA) and the controller listener (nfr.v1 routed + FleetService), each
// its own gRPC server so an agent certificate never reaches the API and a
// controller certificate never attaches as an agent; plus metrics.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/metrics/metrics_server.h"
#include "fleetd/catch_up.h"
#include "fleetd/controller_auth.h"
#include "fleetd/fleet_store.h"
#include "fleetd/gateway.h"
#include "fleetd/registry.h"
#include "nfr/v1/fleetd_config.pb.h"

namespace nfr {

class FleetdServer {
 public:
  static absl::StatusOr<std::unique_ptr<FleetdServer>> Start(const nfr::v1::FleetdConfig& config);
  ~FleetdServer();
  void Stop();

  int link_port() const { return link_port_; }
  int api_port() const { return api_port_; }
  std::string Metrics();

 private:
  FleetdServer() = default;

  std::unique_ptr<FleetStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ControllerAuth> auth_;
  std::unique_ptr<GroupCatchUp> catch_up_;
  Gateway gw_;
  std::vector<std::unique_ptr<grpc::Service>> link_services_, api_services_;
  std::unique_ptr<grpc::Server> link_server_, api_server_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<TextfileWriter> textfile_;
  int link_port_ = 0, api_port_ = 0;
  bool stopped_ = false;
};

// Fills unset fields (name, db_path, request_timeout_ms, status_interval_seconds).
void ApplyFleetdDefaults(nfr::v1::FleetdConfig& config);

}  // namespace nfr
