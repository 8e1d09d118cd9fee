// Crash consistency: the real core, store and gRPC server run in a child process that is
// SIGKILLed at a random moment of a storm of ApplyPolicy / AddRule / RemoveRule / Decide calls,
// 100 times on one database. After every kill the database passes PRAGMA integrity_check, holds
// every acknowledged policy version and every acknowledged decision, and the restarted agent
// installs the last acknowledged policy version or a later one.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/config/config_defaults.h"
#include "agent/store/sqlite_db.h"
#include "gtest/gtest.h"
#include "tests/api/api_test_support.h"

namespace nfr::test {

std::string g_self;  // this binary, re-executed as the child

namespace {

// NFR_CRASH_KILLS lowers it where every start is slow (the cross tier, under qemu-user).
const int kKills = [] {
  const char* env = std::getenv("NFR_CRASH_KILLS");
  return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 100;
}();
constexpr uint32_t kAskPort = 9000;

std::string WithoutPendingLines(const std::string& log) {
  std::string out;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    if (log.compare(pos, 8, "pending ") != 0) out.append(log, pos, end - pos + 1);
    pos = end + 1;
  }
  return out;
}

// Child: the agent's control plane over a TestAgent, with new connections arriving all the time.
[[noreturn]] void Serve(const std::string& dir) {
  if (std::freopen((dir + "/child.log").c_str(), "a", stderr) == nullptr) std::_Exit(4);
  nfr::v1::AgentConfig c;
  c.mutable_api()->set_unix_socket(dir + "/agent.sock");
  c.mutable_store()->set_db_path(dir + "/state.db");
  ApplyDefaults(c);
  TestAgent control;
  auto core = Core::Open(&control, c.store());
  if (!core.ok()) {
    std::fprintf(stderr, "child: %s\n", std::string(core.status().message()).c_str());
    std::_Exit(3);
  }
  control.SetSink((*core)->event_sink());
  auto server = ApiServer::Start(core->get(), c.api());
  if (!server.ok()) {
    std::fprintf(stderr, "child: %s\n", std::string(server.status().message()).c_str());
    std::_Exit(3);
  }
  for (uint32_t sport = 1024;; sport = sport == 65535 ? 1024 : sport + 1) {
    if (control.ListPending().size() < 64) {
      control.Offer(
          MakeFlow("10.0.0.1", "10.0.1.1", kAskPort, nfr::v1::PROTOCOL_TCP, "r-cli", sport));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

struct Acked {
  std::mutex mu;
  uint64_t policy_version = 0;
  std::vector<uint64_t> decisions;
  int applies = 0, rules = 0, decides = 0;
  void Version(uint64_t v) {
    std::lock_guard<std::mutex> l(mu);
    policy_version = std::max(policy_version, v);
  }
};

class CrashConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override {
    if (child_ > 0) Kill();
    Shell("rm -rf " + dir_);
  }

  void Spawn() {
    child_ = fork();
    if (child_ == 0) {
      std::vector<std::string> args = ExecPrefix();
      args.insert(args.end(), {g_self, "--serve", dir_});
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      std::_Exit(127);
    }
    ASSERT_GT(child_, 0);
  }
  void Kill() {
    kill(child_, SIGKILL);
    int status = 0;
    waitpid(child_, &status, 0);
    child_ = -1;
  }
  std::shared_ptr<grpc::Channel> Channel() {
    // A private subchannel with short backoff: the killed agent's connection must not delay
    // reaching the next one.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);  // also the connect timeout
    return grpc::CreateCustomChannel("unix://" + dir_ + "/agent.sock",
                                     grpc::InsecureChannelCredentials(), args);
  }
  // A raw connect() to the socket succeeds (the child listens).
  bool Listening() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir_ + "/agent.sock";
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (fd >= 0) close(fd);
    return ok;
  }
  // The child's installed policy version once it serves. The channel is made only once the child
  // listens, so gRPC's reconnect backoff never delays the first call.
  uint64_t WaitServing() {
    const auto listen_by = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!Listening() && std::chrono::steady_clock::now() < listen_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    auto ch = Channel();
    auto stub = nfr::v1::PolicyService::NewStub(ch);
    grpc::Status last;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      nfr::v1::GetPolicyResponse resp;
      last = stub->GetPolicy(&ctx, {}, &resp);
      if (last.ok()) return resp.policy().version();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::fprintf(stderr, "last GetPolicy: %d %s\n", last.error_code(),
                 last.error_message().c_str());
    const std::string log = ReadAll(dir_ + "/child.log");
    ADD_FAILURE() << "the agent did not serve within 20 s; its log (without pending lines):\n"
                  << WithoutPendingLines(log);
    return 0;
  }

  void Storm(std::shared_ptr<grpc::Channel> ch, Acked& acked, std::atomic<bool>& stop);
  void CheckDatabase(Acked& acked, int kill);

  std::string dir_;
  pid_t child_ = -1;
};

void CrashConsistencyTest::Storm(std::shared_ptr<grpc::Channel> ch, Acked& acked,
                                 std::atomic<bool>& stop) {
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::milliseconds(500); };
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // whole-policy applies with a version guard
    auto stub = nfr::v1::PolicyService::NewStub(ch);
    for (int n = 0; !stop; ++n) {
      grpc::ClientContext get_ctx;
      get_ctx.set_deadline(deadline());
      nfr::v1::GetPolicyResponse cur;
      if (!stub->GetPolicy(&get_ctx, {}, &cur).ok()) continue;
      nfr::v1::ApplyPolicyRequest req;
      *req.mutable_policy() = cur.policy();
      req.set_expected_version(cur.policy().version());
      req.set_comment(absl::StrCat("storm ", n));
      req.mutable_policy()->set_pending_timeout_ms(60000 + n % 1000);
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      nfr::v1::ApplyPolicyResponse resp;
      if (stub->ApplyPolicy(&ctx, req, &resp).ok()) {
        acked.Version(resp.policy().version());
        std::lock_guard<std::mutex> l(acked.mu);
        ++acked.applies;
      }
    }
  });
  threads.emplace_back([&] {  // rules added in front of ask-all, then removed again
    auto stub = nfr::v1::PolicyService::NewStub(ch);
    for (int n = 0; !stop; ++n) {
      const std::string id = absl::StrCat("storm-", n % 8);
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      nfr::v1::AddRuleResponse resp;
      nfr::v1::AddRuleRequest req;
      req.mutable_rule()->set_id(id);
      req.mutable_rule()->set_action(nfr::v1::ACTION_ACCEPT);
      req.mutable_rule()->set_protocol(nfr::v1::PROTOCOL_UDP);
      req.mutable_rule()->add_dst_ports()->set_first(1000 + n % 8);
      req.set_position(0);
      if (stub->AddRule(&ctx, req, &resp).ok()) {
        acked.Version(resp.policy().version());
        std::lock_guard<std::mutex> l(acked.mu);
        ++acked.rules;
        continue;
      }
      grpc::ClientContext rm_ctx;
      rm_ctx.set_deadline(deadline());
      nfr::v1::RemoveRuleRequest rm;
      rm.set_rule_id(id);
      nfr::v1::RemoveRuleResponse rm_resp;
      if (stub->RemoveRule(&rm_ctx, rm, &rm_resp).ok()) {
        acked.Version(rm_resp.policy().version());
        std::lock_guard<std::mutex> l(acked.mu);
        ++acked.rules;
      }
    }
  });
  threads.emplace_back([&] {  // controller decisions for the connections that keep arriving
    auto stub = nfr::v1::ConnectionService::NewStub(ch);
    for (int n = 0; !stop; ++n) {
      grpc::ClientContext list_ctx;
      list_ctx.set_deadline(deadline());
      nfr::v1::ListPendingResponse pending;
      if (!stub->ListPending(&list_ctx, {}, &pending).ok() || pending.pending().empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      for (const auto& p : pending.pending()) {
        if (stop) break;
        grpc::ClientContext ctx;
        ctx.set_deadline(deadline());
        nfr::v1::DecideRequest req;
        req.set_pending_id(p.id());
        req.set_verdict(n % 2 ? nfr::v1::VERDICT_ACCEPT : nfr::v1::VERDICT_DROP);
        req.set_scope(nfr::v1::DECISION_SCOPE_FLOW);
        req.set_reason("crash storm");
        nfr::v1::DecideResponse resp;
        if (stub->Decide(&ctx, req, &resp).ok()) {
          std::lock_guard<std::mutex> l(acked.mu);
          acked.decisions.push_back(resp.decision().id());
          ++acked.decides;
        }
      }
    }
  });
  for (auto& t : threads) t.join();
}

void CrashConsistencyTest::CheckDatabase(Acked& acked, int kill) {
  auto db = SqliteDb::Open(dir_ + "/state.db");
  ASSERT_TRUE(db.ok()) << db.status();
  auto check = (*db)->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok()) << check.status();
  ASSERT_TRUE(*check->Step());
  EXPECT_EQ(check->Text(0), "ok") << "after kill " << kill;
  const int64_t latest = (*db)->QueryInt("SELECT MAX(version) FROM policy_versions", 0);
  EXPECT_GE(static_cast<uint64_t>(latest), acked.policy_version)
      << "after kill " << kill << ": an acknowledged policy version is missing";
  auto has = (*db)->Prepare("SELECT COUNT(*) FROM decisions WHERE id = ?");
  ASSERT_TRUE(has.ok()) << has.status();
  int missing = 0;
  for (uint64_t id : acked.decisions) {
    has->Bind(1, static_cast<int64_t>(id));
    ASSERT_TRUE(*has->Step());
    if (has->Int(0) != 1) ++missing;
    has->Reset();
  }
  EXPECT_EQ(missing, 0) << "after kill " << kill << ": acknowledged decisions lost";
}

TEST_F(CrashConsistencyTest, SigkillDuringApplyAddRuleDecideLosesNothingAcknowledged) {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(20, 400);
  Acked acked;
  const auto start = std::chrono::steady_clock::now();
  for (int kill = 1; kill <= kKills && !HasFailure(); ++kill) {
    const auto spawned = std::chrono::steady_clock::now();
    unlink((dir_ + "/agent.sock").c_str());  // the killed child's
    Spawn();
    const uint64_t installed = WaitServing();
    auto ch = Channel();
    const double serve_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - spawned).count();
    if (serve_s > 1) std::fprintf(stderr, "restart %d: serving after %.1f s\n", kill, serve_s);
    EXPECT_GE(installed, acked.policy_version)
        << "restart " << kill << " installed an older policy than the last acknowledged one";
    std::atomic<bool> stop{false};
    std::thread storm([&] { Storm(ch, acked, stop); });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    Kill();
    stop = true;
    storm.join();
    CheckDatabase(acked, kill);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%d kills in %.1f s; acknowledged: %d applies, %d rule changes, %d decisions "
      "(policy version %lu); nothing acknowledged lost\n",
      kKills, secs, acked.applies, acked.rules, acked.decides,
      static_cast<unsigned long>(acked.policy_version));
  EXPECT_GE(acked.applies, kKills / 5) << "the storm must reach the agent";
  EXPECT_GE(acked.decides, kKills) << "the storm must reach the agent";
}

}  // namespace
}  // namespace nfr::test

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--serve") nfr::test::Serve(argv[2]);
  nfr::test::g_self = "/proc/self/exe";
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) nfr::test::g_self.assign(buf, n);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
