#include "fleetd/fleetd_server.h"

#include "absl/strings/str_cat.h"
#include "agent/api/tls_credentials.h"
#include "agent/metrics/prom_text.h"
#include "fleetd/fleet_service.h"
#include "fleetd/link_service.h"
#include "fleetd/routed_services.h"

namespace nfr {
namespace {

constexpr char kDefaultName[] = "nfr-fleetd";
constexpr char kDefaultDb[] = "/var/lib/nfr-fleetd/fleetd.db";
constexpr uint32_t kDefaultRequestTimeoutMs = 10000;
constexpr uint32_t kDefaultStatusIntervalSeconds = 10;

}  // namespace

void ApplyFleetdDefaults(nfr::v1::FleetdConfig& c) {
  if (c.name().empty()) c.set_name(kDefaultName);
  if (c.db_path().empty()) c.set_db_path(kDefaultDb);
  if (c.request_timeout_ms() == 0) c.set_request_timeout_ms(kDefaultRequestTimeoutMs);
  if (c.status_interval_seconds() == 0)
    c.set_status_interval_seconds(kDefaultStatusIntervalSeconds);
}

absl::StatusOr<std::unique_ptr<FleetdServer>> FleetdServer::Start(
    const nfr::v1::FleetdConfig& config) {
  if (config.link_listen().empty()) {
    return absl::InvalidArgumentError(
        "link_listen: required (host:port agents dial, e.g. 0.0.0.0:7443)");
  }
  if (config.api_listen().empty()) {
    return absl::InvalidArgumentError(
        "api_listen: required (host:port for controllers and nfrctl)");
  }
  std::unique_ptr<FleetdServer> s(new FleetdServer());
  absl::StatusOr<ControllerAuth> auth = ControllerAuth::Create(config);
  if (!auth.ok()) return auth.status();
  s->auth_ = std::make_unique<ControllerAuth>(*std::move(auth));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> link_creds =
      MutualTlsServerCredentials(config.link_tls(), "link_tls");
  if (!link_creds.ok()) return link_creds.status();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> api_creds =
      MutualTlsServerCredentials(config.api_tls(), "api_tls");
  if (!api_creds.ok()) return api_creds.status();
  absl::StatusOr<std::unique_ptr<FleetStore>> store = FleetStore::Open(config.db_path());
  if (!store.ok()) return store.status();
  s->store_ = *std::move(store);
  s->registry_ =
      std::make_unique<Registry>(s->store_.get(), config.name(), config.status_interval_seconds());
  s->gw_.registry = s->registry_.get();
  s->gw_.store = s->store_.get();
  s->gw_.auth = s->auth_.get();
  s->gw_.request_timeout = absl::Milliseconds(config.request_timeout_ms());

  {
    grpc::ServerBuilder b;
    b.AddListeningPort(config.link_listen(), *link_creds, &s->link_port_);
    // Agents ping every few seconds to notice a dead link; allow it.
    b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
    b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    s->catch_up_ =
        std::make_unique<GroupCatchUp>(s->registry_.get(), s->store_.get(), s->gw_.request_timeout);
    s->link_services_.push_back(
        std::make_unique<LinkServiceImpl>(s->registry_.get(), s->catch_up_.get()));
    for (auto& svc : s->link_services_) b.RegisterService(svc.get());
    s->link_server_ = b.BuildAndStart();
    if (s->link_server_ == nullptr || s->link_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on link_listen ",
                                                 config.link_listen(),
                                                 "; is the address valid and the port free?"));
    }
  }
  {
    grpc::ServerBuilder b;
    b.AddListeningPort(config.api_listen(), *api_creds, &s->api_port_);
    s->api_services_.push_back(std::make_unique<RoutedPolicyService>(s->gw_));
    s->api_services_.push_back(std::make_unique<RoutedConnectionService>(s->gw_));
    s->api_services_.push_back(std::make_unique<RoutedDecisionService>(s->gw_));
    s->api_services_.push_back(std::make_unique<RoutedFlowService>(s->gw_));
    s->api_services_.push_back(std::make_unique<RoutedAgentService>(s->gw_));
    s->api_services_.push_back(std::make_unique<FleetServiceImpl>(s->gw_));
    for (auto& svc : s->api_services_) b.RegisterService(svc.get());
    s->api_server_ = b.BuildAndStart();
    if (s->api_server_ == nullptr || s->api_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on api_listen ",
                                                 config.api_listen(),
                                                 "; is the address valid and the port free?"));
    }
  }
  FleetdServer* self = s.get();
  if (!config.metrics().listen().empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> m = MetricsServer::Start(
        config.metrics().listen(), "metrics.listen", [self] { return self->Metrics(); });
    if (!m.ok()) return m.status();
    s->metrics_ = *std::move(m);
  }
  if (!config.metrics().textfile().empty()) {
    s->textfile_ = std::make_unique<TextfileWriter>(
        config.metrics().textfile(),
        config.metrics().textfile_interval_seconds() ? config.metrics().textfile_interval_seconds()
                                                     : 15,
        [self] { return self->Metrics(); });
  }
  return s;
}

std::string FleetdServer::Metrics() {
  FleetCounters& c = registry_->counters();
  const std::vector<nfr::v1::FleetAgent> agents = registry_->Agents();
  uint64_t pending = 0;
  for (const auto& a : agents) pending += a.connected() ? a.pending() : 0;
  PromText p;
  p.Family("nfr_fleet_agents", "gauge", "Agents known to the gateway.");
  p.Sample("nfr_fleet_agents", static_cast<double>(agents.size()));
  p.Family("nfr_fleet_agents_connected", "gauge", "Agents with a link up now.");
  p.Sample("nfr_fleet_agents_connected", static_cast<double>(registry_->connected()));
  p.Family("nfr_fleet_pending", "gauge", "Connections held on connected agents, as they reported.");
  p.Sample("nfr_fleet_pending", static_cast<double>(pending));
  p.Family("nfr_fleet_links_total", "counter", "Links admitted.");
  p.Sample("nfr_fleet_links_total", static_cast<double>(c.links.load()));
  p.Family("nfr_fleet_links_refused_total", "counter",
           "Links refused after TLS (wrong claimed id, no Hello).");
  p.Sample("nfr_fleet_links_refused_total", static_cast<double>(c.links_refused.load()));
  p.Family("nfr_fleet_requests_total", "counter", "Calls routed to agents.");
  p.Sample("nfr_fleet_requests_total", static_cast<double>(c.requests.load()));
  p.Family("nfr_fleet_request_errors_total", "counter", "Routed calls that failed.");
  p.Sample("nfr_fleet_request_errors_total", static_cast<double>(c.request_errors.load()));
  p.Family("nfr_fleet_decisions_uploaded_total", "counter", "Decisions stored from agents.");
  p.Sample("nfr_fleet_decisions_uploaded_total", static_cast<double>(c.decisions_uploaded.load()));
  p.Family("nfr_fleet_decisions_duplicate_total", "counter",
           "Uploaded decisions already stored (should stay 0).");
  p.Sample("nfr_fleet_decisions_duplicate_total",
           static_cast<double>(c.decisions_duplicate.load()));
  p.Family("nfr_fleet_rollouts_total", "counter", "Rollouts completed.");
  p.Sample("nfr_fleet_rollouts_total", static_cast<double>(c.rollouts.load()));
  p.Family("nfr_fleet_watchers", "gauge", "Open fleet and routed watch streams.");
  p.Sample("nfr_fleet_watchers", static_cast<double>(registry_->watchers()));
  return p.text();
}

void FleetdServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  textfile_.reset();
  metrics_.reset();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (api_server_) api_server_->Shutdown(deadline);
  if (link_server_) link_server_->Shutdown(deadline);
  if (api_server_) api_server_->Wait();
  if (link_server_) link_server_->Wait();
}

FleetdServer::~FleetdServer() { Stop(); }

}  // namespace nfr
