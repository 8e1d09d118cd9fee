// nfr-agent: loads the configuration, starts the kernel datapath, the NFQUEUE
// verdict loop and the control-plane API, and runs until SIGTERM/SIGINT.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/api/api_server.h"
#include "agent/config/config_defaults.h"
#include "agent/config/config_loader.h"
#include "agent/config/config_overrides.h"
#include "agent/config/config_validation.h"
#include "agent/core/core.h"
#include "agent/core/requests.h"
#include "agent/datapath/tcp_connection_cap.h"
#include "agent/link/controller_link.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/metrics/metrics_server.h"
#include "agent/runtime/agent.h"
#include "agent/util/log.h"

ABSL_FLAG(std::optional<std::string>, config, std::nullopt,
          "configuration file (JSON, proto/nfr/v1/config.proto); omitted = embedded defaults");
ABSL_FLAG(std::optional<std::string>, interfaces, std::nullopt,
          "interfaces to inspect, e.g. eth0,eth1:egress (overrides the config file)");
ABSL_FLAG(std::optional<std::string>, mode, std::nullopt, "auto | native | compat");
ABSL_FLAG(std::optional<std::string>, pin_dir, std::nullopt, "BPF pin directory");
ABSL_FLAG(std::optional<std::string>, api_socket, std::nullopt,
          "API Unix socket path, or - to disable it");
ABSL_FLAG(std::optional<std::string>, db, std::nullopt, "SQLite state database path");
ABSL_FLAG(std::optional<uint32_t>, queue_num, std::nullopt, "first NFQUEUE number");
ABSL_FLAG(bool, check_config, false,
          "validate the configuration, print the effective configuration as JSON, exit");
ABSL_FLAG(bool, print_default_config, false, "print the embedded default configuration, exit");

namespace {

constexpr char kUsage[] = R"(nfr-agent: decides new connections selected by a tc eBPF program.

Usage: nfr-agent [flags]

Selected packets (the first packet of a new connection on the listed interfaces)
reach the agent through NFQUEUE; the policy accepts, drops or holds them for a
controller (nfrctl pending watch / decide). Decided flows stay in a BPF flow
cache and never leave the kernel again. Runs until SIGTERM or SIGINT; held
packets then get the policy's default verdict.

Flags:
  --config=PATH            configuration file (JSON, proto/nfr/v1/config.proto);
                           omitted = embedded defaults (--print_default_config)
  --interfaces=LIST        interfaces to inspect, e.g. eth0,eth1:egress
                           (:egress also inspects egress; native mode only)
  --mode=auto|native|compat  datapath pathway (auto: native when the kernel has it)
  --pin_dir=DIR            BPF pin directory (default /sys/fs/bpf/nfr)
  --api_socket=PATH        API Unix socket (default /run/nfr/agent.sock; - disables)
  --db=PATH                SQLite state database (default /var/lib/nfr/state.db)
  --queue_num=N            first NFQUEUE number (default 4200)
  --check_config           validate, print the effective configuration as JSON, exit 0
                           (exit 2 on an invalid configuration)
  --print_default_config   print the embedded default configuration and exit
  --help                   this text

Exit status: 0 after a clean shutdown, 1 when the agent cannot start,
2 for an invalid configuration or flag.
)";

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "nfr-agent: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

// The API TCP cap as status calls see it: its description and, once installed, the cap itself
// (for its reset counter). Dropping the cap removes its rules.
class TcpCapStatus {
 public:
  void Set(std::string text, std::shared_ptr<nfr::datapath::TcpConnectionCap> cap = nullptr) {
    absl::MutexLock l(&mu_);
    text_ = std::move(text);
    cap_ = std::move(cap);
  }
  void Fill(nfr::v1::AgentStatus* s) const {
    std::shared_ptr<nfr::datapath::TcpConnectionCap> cap;
    {
      absl::MutexLock l(&mu_);
      s->set_api_tcp_connection_cap(text_);
      cap = cap_;
    }
    if (cap != nullptr) s->mutable_counters()->set_api_tcp_connections_reset(cap->Resets());
  }
  void Remove() {
    std::shared_ptr<nfr::datapath::TcpConnectionCap> cap;
    absl::MutexLock l(&mu_);
    cap.swap(cap_);
  }

 private:
  mutable absl::Mutex mu_;
  std::string text_;
  std::shared_ptr<nfr::datapath::TcpConnectionCap> cap_;
};

// gRPC 1.51's TCP listener has no connection cap of its own: netfilter rules give it one
// (docs/security.md "Limits"). AUTO goes on without a cap when no backend works, and says so.
absl::Status CapTcpConnections(const nfr::v1::ApiConfig& api, int port, TcpCapStatus* status) {
  if (port == 0) return absl::OkStatus();
  const nfr::v1::ApiLimitsConfig& limits = api.limits();
  if (limits.tcp_connection_cap() == nfr::v1::TCP_CONNECTION_CAP_OFF) {
    status->Set(absl::StrCat("off (api.limits.tcp_connection_cap), port ", port));
    return absl::OkStatus();
  }
  nfr::datapath::TcpCapSpec spec;
  spec.port = static_cast<uint16_t>(port);
  spec.per_peer = limits.max_connections_per_peer();
  spec.total = limits.max_connections();
  auto cap = nfr::datapath::TcpConnectionCap::Install(spec, limits.tcp_connection_cap());
  if (!cap.ok()) {
    if (limits.tcp_connection_cap() != nfr::v1::TCP_CONNECTION_CAP_AUTO) return cap.status();
    nfr::LogLine(absl::StrCat("nfr-agent: warning: ", cap.status().message(),
                              "; the API's TCP listener runs without a connection cap"));
    status->Set(
        absl::StrCat("none: no netfilter backend could install it (agent log), port ", port));
    return absl::OkStatus();
  }
  std::string text = (*cap)->Describe();
  nfr::LogLine(absl::StrCat("nfr-agent: API TCP connections capped by ", text));
  status->Set(std::move(text), *std::move(cap));
  return absl::OkStatus();
}

// glibc gives every thread that allocates its own malloc arena (up to 8 per core). A large policy
// change (a 1M-prefix set) then leaves freed pages spread over several arenas that malloc_trim
// cannot hand back: measured +72 to +111 MiB after a 1M set import with the default, +64 MiB
// with two arenas, and no new-flow rate difference. MALLOC_ARENA_MAX in the environment wins.
void LimitMallocArenas() {
#ifdef M_ARENA_MAX
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
#endif
}

// The soft fd limit up to the hard one (systemd's LimitNOFILE, often 1024
// soft / 524288 hard): the API caps its connections below it, and a listener
// that runs out of fds stops accepting.
void RaiseFdLimit() {
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
  const rlim_t want = std::min<rlim_t>(r.rlim_max, 65536);
  if (want <= r.rlim_cur) return;
  r.rlim_cur = want;
  setrlimit(RLIMIT_NOFILE, &r);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0 ||
        std::strcmp(argv[i], "-help") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  absl::SetProgramUsageMessage(kUsage);
  absl::ParseCommandLine(argc, argv);
  // The distribution's Abseil checks every Mutex acquisition for lock-order cycles (~1.5 % of the
  // CPU of a new-flow flood); the tests keep the check, the daemon does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  if (absl::GetFlag(FLAGS_print_default_config)) {
    std::cout << nfr::ConfigToJson(nfr::DefaultConfig()) << "\n";
    return 0;
  }

  nfr::v1::AgentConfig config;
  if (auto path = absl::GetFlag(FLAGS_config); path.has_value()) {
    auto loaded = nfr::LoadConfigFile(*path);
    if (!loaded.ok()) return Fail(2, loaded.status().message());
    config = *std::move(loaded);
  } else {
    config = nfr::DefaultConfig();
  }
  nfr::ApplyDefaults(config);
  nfr::ConfigOverrides overrides;
  overrides.interfaces = absl::GetFlag(FLAGS_interfaces);
  overrides.mode = absl::GetFlag(FLAGS_mode);
  overrides.pin_dir = absl::GetFlag(FLAGS_pin_dir);
  overrides.api_socket = absl::GetFlag(FLAGS_api_socket);
  overrides.db = absl::GetFlag(FLAGS_db);
  overrides.queue_num = absl::GetFlag(FLAGS_queue_num);
  if (auto s = nfr::ApplyOverrides(overrides, config); !s.ok()) return Fail(2, s.message());
  if (auto s = nfr::ValidateConfig(config); !s.ok()) {
    const auto path = absl::GetFlag(FLAGS_config);
    const std::string source =
        path.has_value() ? absl::StrCat("config file ", *path) : "embedded default config";
    return Fail(2, absl::StrCat(source, ": ", s.message()));
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    std::cout << nfr::ConfigToJson(config) << "\n";
    return 0;
  }

  // Before any thread exists, so every thread inherits the blocked mask.
  nfr::BlockTerminationSignals();
  LimitMallocArenas();
  RaiseFdLimit();
  // Nothing the agent creates (state database and its -wal/-shm, run state) is world-readable.
  ::umask(027);

  auto agent = nfr::Agent::Create(config);
  if (!agent.ok()) return Fail(2, agent.status().message());

  nfr::CoreOptions core_options;
  core_options.max_policy_bytes = config.api().limits().max_policy_bytes();
  auto core = nfr::Core::Open((*agent)->control(), config.store(), core_options);
  if (!core.ok()) return Fail(1, core.status().message());
  (*agent)->AddEventSink((*core)->event_sink());
  std::unique_ptr<nfr::ControllerLink> link;
  if (!config.controller().target().empty()) {
    auto started = nfr::ControllerLink::Start(core->get(), config.controller());
    if (!started.ok()) return Fail(2, started.status().message());
    link = *std::move(started);
  }
  nfr::ApiServerOptions api_options;
  TcpCapStatus tcp_cap;
  api_options.status_extra = [l = link.get(), &tcp_cap](nfr::v1::AgentStatus* s) {
    if (l != nullptr) l->FillStatus(s);
    tcp_cap.Fill(s);
  };
  // The cap is in before the listener opens (config validation requires a port).
  if (auto st =
          CapTcpConnections(config.api(), nfr::ListenPort(config.api().tcp_listen()), &tcp_cap);
      !st.ok()) {
    if (link != nullptr) link->Stop();
    (*core)->Stop();
    return Fail(1, st.message());
  }
  auto api = nfr::ApiServer::Start(core->get(), config.api(), api_options);
  if (!api.ok()) return Fail(1, api.status().message());
  const nfr::MetricsServer::Render render = [a = api->get()] {
    return nfr::RenderAgentMetrics(a->Status());
  };
  std::unique_ptr<nfr::MetricsServer> metrics;
  if (!config.metrics().listen().empty()) {
    auto m = nfr::MetricsServer::Start(config.metrics().listen(), "metrics.listen", render);
    if (!m.ok()) return Fail(1, m.status().message());
    metrics = *std::move(m);
    nfr::LogLine(absl::StrCat("nfr-agent: metrics on http://", config.metrics().listen(),
                              "/metrics (port ", metrics->port(), ")"));
  }
  std::unique_ptr<nfr::TextfileWriter> textfile;
  if (!config.metrics().textfile().empty()) {
    textfile = std::make_unique<nfr::TextfileWriter>(
        config.metrics().textfile(),
        config.metrics().textfile_interval_seconds() ? config.metrics().textfile_interval_seconds()
                                                     : 15,
        render);
  }

  if (auto s = (*agent)->Start(); !s.ok()) {
    if (link != nullptr) link->Stop();
    (*core)->Stop();
    (*api)->Stop();
    return Fail(1, s.message());
  }
  const int sig = nfr::WaitForTerminationSignal();
  nfr::LogLine(absl::StrCat("nfr-agent: ", sig == SIGINT ? "SIGINT" : "SIGTERM",
                            " received, shutting down"));
  textfile.reset();
  metrics.reset();
  if (link != nullptr) link->Stop();
  (*agent)->Shutdown();
  (*core)->Stop();
  (*api)->Stop();
  tcp_cap.Remove();
  return 0;
}
