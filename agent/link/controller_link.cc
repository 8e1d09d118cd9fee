#include "agent/link/controller_link.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/api/tls_credentials.h"
#include "agent/link/link_session.h"
#include "agent/util/log.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

constexpr uint32_t kDefaultBackoffInitialMs = 500;
constexpr uint32_t kDefaultBackoffMaxMs = 30000;
constexpr uint32_t kDefaultKeepaliveSeconds = 2;
constexpr int kMinKeepaliveTimeoutMs = 4000;
constexpr double kJitter = 0.2;
// A link that stayed up this long resets the backoff.
constexpr absl::Duration kStableLink = absl::Seconds(10);

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* field) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": required with controller.target (PEM file; see docs/fleet.md)"));
  }
  return ReadPemFile(path, field);
}

}  // namespace

ControllerLink::ControllerLink(Core* core, nfr::v1::ControllerConfig config)
    : core_(core), config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<ControllerLink>> ControllerLink::Start(
    Core* core, const nfr::v1::ControllerConfig& config) {
  std::unique_ptr<ControllerLink> l(new ControllerLink(core, config));
  absl::StatusOr<std::string> ca = ReadFile(config.ca_file(), "controller.ca_file");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = ReadFile(config.cert_file(), "controller.cert_file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(config.key_file(), "controller.key_file");
  if (!key.ok()) return key.status();
  l->root_ca_ = *std::move(ca);
  l->cert_ = *std::move(cert);
  l->key_ = *std::move(key);
  l->thread_ = std::thread([p = l.get()] { p->Run(); });
  return l;
}

ControllerLink::~ControllerLink() { Stop(); }

void ControllerLink::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    if (session_ != nullptr) session_->Cancel();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ControllerLink::Sleep(absl::Duration d) {
  std::unique_lock<std::mutex> l(mu_);
  return !wake_.wait_for(l, absl::ToChronoNanoseconds(d), [&] { return stop_; });
}

void ControllerLink::Run() {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = root_ca_;
  tls.pem_private_key = key_;
  tls.pem_cert_chain = cert_;
  grpc::ChannelArguments args;
  const int keepalive_ms =
      1000 * static_cast<int>(config_.keepalive_seconds() ? config_.keepalive_seconds()
                                                          : kDefaultKeepaliveSeconds);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  // Also the TCP user timeout: short enough to notice a dead path within seconds, long
  // enough that a loaded router or gateway is not taken for a dead one.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, std::max(2 * keepalive_ms, kMinKeepaliveTimeoutMs));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Our own backoff decides when to dial again.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (!config_.server_name().empty()) {
    args.SetSslTargetNameOverride(config_.server_name());
  }
  const absl::Duration initial = absl::Milliseconds(
      config_.backoff_initial_ms() ? config_.backoff_initial_ms() : kDefaultBackoffInitialMs);
  const absl::Duration max = absl::Milliseconds(config_.backoff_max_ms() ? config_.backoff_max_ms()
                                                                         : kDefaultBackoffMaxMs);
  absl::BitGen rng;
  absl::Duration backoff = initial;
  std::string last_logged;
  while (true) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    // A new channel per attempt: no state survives a dead gateway.
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(config_.target(), grpc::SslCredentials(tls), args);
    LinkSession session(core_, config_, &counters_);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
      session_ = &session;
    }
    absl::Time up_since = absl::InfiniteFuture();
    LinkSession::Hooks hooks;
    hooks.welcomed = [&](const nfr::v1::Welcome& w) {
      up_since = absl::Now();
      {
        std::lock_guard<std::mutex> l(mu_);
        connected_since_ = up_since;
        gateway_ = w.gateway();
        acked_ = w.acked_decision_id();
        last_error_.clear();
      }
      connected_ = true;
      counters_.connects++;
      last_logged.clear();
      LogLine(absl::StrCat("nfr-agent: link up to ", config_.target(), " (gateway ", w.gateway(),
                           ", acked decision ", w.acked_decision_id(), ")"));
    };
    hooks.status = [this](nfr::v1::AgentStatus* st) { FillStatus(st); };
    hooks.acked = [&](uint64_t id) {
      std::lock_guard<std::mutex> l(mu_);
      acked_ = std::max(acked_, id);
    };
    absl::Status why = session.Run(channel, hooks);
    const bool was_up = connected_.exchange(false);
    {
      std::lock_guard<std::mutex> l(mu_);
      session_ = nullptr;
      last_error_ = why.ToString();
      if (stop_) return;
    }
    if (was_up && absl::Now() - up_since >= kStableLink) backoff = initial;
    const absl::Duration delay =
        backoff +
        absl::Milliseconds(absl::Uniform(rng, 0.0, kJitter * absl::ToDoubleMilliseconds(backoff)));
    // One line per change of reason, so a long outage does not flood the log.
    const std::string line = absl::StrCat("nfr-agent: link to ", config_.target(),
                                          was_up ? " lost: " : " failed: ", why.ToString());
    if (line != last_logged) {
      // Refused before Welcome with only a transport error: most often certificates.
      const char* hint =
          !was_up && why.code() == absl::StatusCode::kUnavailable
              ? " (if the gateway is up: did the fleet CA sign controller.cert_file, and did "
                "controller.ca_file sign the gateway's certificate for controller.server_name?)"
              : "";
      LogLine(absl::StrCat(line, hint, "; retrying with backoff up to ", absl::FormatDuration(max),
                           " (controller.backoff_max_ms)"));
      last_logged = line;
    }
    if (!Sleep(delay)) return;
    backoff = std::min(max, backoff * 2);
  }
}

void ControllerLink::FillStatus(nfr::v1::AgentStatus* status) const {
  nfr::v1::LinkStatus* s = status->mutable_link();
  s->set_target(config_.target());
  s->set_connected(connected_.load());
  {
    std::lock_guard<std::mutex> l(mu_);
    if (connected_.load()) *s->mutable_connected_since() = ToProtoTime(connected_since_);
    s->set_gateway(gateway_);
    s->set_last_error(last_error_);
    s->set_acked_decision_id(acked_);
  }
  nfr::v1::AgentCounters* c = status->mutable_counters();
  c->set_link_connects(counters_.connects.load());
  c->set_link_decisions_uploaded(counters_.decisions_uploaded.load());
  c->set_link_requests(counters_.requests.load());
}

}  // namespace nfr
