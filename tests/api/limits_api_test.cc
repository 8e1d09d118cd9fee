// Issue 12: the API's resource limits over the real Unix socket (and insecure
// TCP for a second identity). Each test goes past a limit, checks the refusal
// is RESOURCE_EXHAUSTED (or a GOAWAY for connections) naming the limit, and
// that the agent still serves; RSS is printed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

using nfr::v1::PendingEvent;
using std::chrono::milliseconds;

std::string Rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return line.substr(6);
  }
  return "?";
}

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 2;
}

class LimitsTest : public ApiFixture {
 protected:
  nfr::v1::ApiLimitsConfig* limits() { return api_config_.mutable_limits(); }

  nfr::v1::AgentCounters Counters() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    nfr::v1::AgentStatus st;
    grpc::Status s = AgentStub()->GetStatus(&ctx, {}, &st);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return st.counters();
  }

  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<PendingEvent>> reader;
  };
  // Opens a WatchPending stream and reads up to its snapshot_done; false when
  // the stream ended instead (then `status` says why).
  bool OpenWatch(nfr::v1::ConnectionService::Stub& stub, Watch* w, grpc::Status* status) {
    w->reader = stub.WatchPending(&w->ctx, {});
    PendingEvent e;
    while (w->reader->Read(&e)) {
      if (e.has_snapshot_done()) return true;
    }
    *status = w->reader->Finish();
    return false;
  }

  // A raw connection to the API socket that never speaks.
  int RawConnect() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string path = dir_ + "/agent.sock";
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  // What the agent sends before closing `fd` (within `wait`); "" if it stays open.
  static std::string ReadUntilClosed(int fd, milliseconds wait) {
    std::string got;
    const auto end = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char buf[512];
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) return got.empty() ? "(closed)" : got;
      got.append(buf, n);
    }
  }
};

TEST_F(LimitsTest, StreamsPastTheLimitsAreRefusedAndTheirPlacesReturn) {
  limits()->set_max_streams(6);
  limits()->set_max_streams_per_peer(4);
  api_config_.set_tcp_listen("127.0.0.1:0");
  api_config_.set_insecure_tcp(true);
  api_config_.set_insecure_tcp_role(nfr::v1::ROLE_VIEWER);
  StartServer();
  std::printf("RSS before: %s\n", Rss().c_str());
  auto unix_stub = ConnStub();
  std::vector<std::unique_ptr<Watch>> open;
  grpc::Status s;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<Watch>());
    ASSERT_TRUE(OpenWatch(*unix_stub, open.back().get(), &s)) << i << ": " << s.error_message();
  }
  Watch extra;
  ASSERT_FALSE(OpenWatch(*unix_stub, &extra, &s));
  EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("api.limits.max_streams_per_peer (4)"), std::string::npos)
      << s.error_message();
  // A second identity (insecure TCP) fills the global limit.
  auto tcp = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->tcp_port()),
                                 grpc::InsecureChannelCredentials());
  auto tcp_stub = nfr::v1::ConnectionService::NewStub(tcp);
  for (int i = 0; i < 2; ++i) {
    open.push_back(std::make_unique<Watch>());
    ASSERT_TRUE(OpenWatch(*tcp_stub, open.back().get(), &s)) << s.error_message();
  }
  Watch over;
  ASSERT_FALSE(OpenWatch(*tcp_stub, &over, &s));
  EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("api.limits.max_streams (6)"), std::string::npos)
      << s.error_message();
  // Still serving, and counting.
  EXPECT_EQ(Counters().api_streams_refused(), 2u);
  // Closed streams give their places back.
  for (auto& w : open) w->ctx.TryCancel();
  for (auto& w : open) w->reader->Finish();
  open.clear();
  bool reopened = false;
  for (int i = 0; i < 50 && !reopened; ++i) {
    Watch again;
    reopened = OpenWatch(*unix_stub, &again, &s);
    if (reopened) {
      again.ctx.TryCancel();
      again.reader->Finish();
    } else {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  EXPECT_TRUE(reopened) << s.error_message();
  std::printf("RSS after: %s\n", Rss().c_str());
}

TEST_F(LimitsTest, TheSnapshotStaysInsideTheWatcherBound) {
  ApiServerOptions o;
  o.watcher_queue = 8;
  StartServer(o);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                                       41000 + i)),
              TestAgent::Outcome::kPending);
  }
  grpc::ClientContext ctx;
  auto reader = ConnStub()->WatchPending(&ctx, {});
  PendingEvent e;
  int snapshot = 0;
  uint64_t lost = 0;
  uint32_t done = 0;
  while (reader->Read(&e)) {
    if (e.has_snapshot()) ++snapshot;
    if (e.has_lost()) lost += e.lost().count();
    if (e.has_snapshot_done()) {
      done = e.snapshot_done().count();
      break;
    }
  }
  EXPECT_EQ(snapshot, 8);
  EXPECT_EQ(lost, 12u);
  EXPECT_EQ(done, 8u);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(LimitsTest, IdleAndExcessConnectionsAreClosedAndTheAgentKeepsServing) {
  limits()->set_max_connections_per_peer(4);
  limits()->set_handshake_timeout_ms(1500);
  StartServer();
  std::printf("RSS before: %s, fds %d\n", Rss().c_str(), OpenFds());
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(RawConnect());
  std::this_thread::sleep_for(milliseconds(300));
  int fifth = RawConnect();
  const std::string why = ReadUntilClosed(fifth, milliseconds(1000));
  EXPECT_NE(why.find("api.limits.max_connections_per_peer (4)"), std::string::npos) << why;
  ::close(fifth);
  // The silent ones are closed at the preface deadline.
  for (int fd : idle) {
    const std::string bye = ReadUntilClosed(fd, milliseconds(3000));
    EXPECT_NE(bye.find("api.limits.handshake_timeout_ms"), std::string::npos) << bye;
    ::close(fd);
  }
  nfr::v1::AgentCounters c = Counters();
  EXPECT_EQ(c.api_connections_refused(), 5u);

  // The global cap, with room per peer.
  StopServer();
  limits()->set_max_connections(3);
  limits()->set_max_connections_per_peer(100);
  StartServer();
  idle.clear();
  for (int i = 0; i < 3; ++i) idle.push_back(RawConnect());
  std::this_thread::sleep_for(milliseconds(300));
  int fourth = RawConnect();
  const std::string why2 = ReadUntilClosed(fourth, milliseconds(1000));
  EXPECT_NE(why2.find("api.limits.max_connections (3)"), std::string::npos) << why2;
  ::close(fourth);
  for (int fd : idle) ::close(fd);
  // Closed connections are forgotten: a real client gets in.
  bool served = false;
  for (int i = 0; i < 30 && !served; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    nfr::v1::AgentStatus st;
    served = AgentStub()->GetStatus(&ctx, {}, &st).ok();
    if (!served) std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(served);
  std::printf("RSS after: %s, fds %d\n", Rss().c_str(), OpenFds());
}

TEST_F(LimitsTest, OutOfFileDescriptorsTheListenerBacksOffAndRecovers) {
  StartServer();
  std::vector<int> socks;
  for (int i = 0; i < 40; ++i) socks.push_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = OpenFds() + 8;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string path = dir_ + "/agent.sock";
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  for (int fd : socks) ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  std::this_thread::sleep_for(milliseconds(2000));
  getrusage(RUSAGE_SELF, &r1);
  auto cpu = [](const rusage& r) {
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  const double used = cpu(r1) - cpu(r0);
  std::printf("CPU while out of fds: %.3f s in 2 s\n", used);
  EXPECT_LT(used, 0.5) << "the accept loop spins on EMFILE";
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  for (int fd : socks) ::close(fd);
  bool served = false;
  for (int i = 0; i < 30 && !served; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    nfr::v1::AgentStatus st;
    served = AgentStub()->GetStatus(&ctx, {}, &st).ok();
    if (served) {
      EXPECT_GT(st.counters().api_connections_refused(), 0u);
    } else {
      std::this_thread::sleep_for(milliseconds(200));
    }
  }
  EXPECT_TRUE(served) << "the listener did not recover";
}

TEST_F(LimitsTest, ChangeRateIsPerCallerAndErrorsEchoLittle) {
  limits()->set_changes_per_second(5);
  limits()->set_changes_burst(5);
  StartServer();
  auto policy = PolicyStub();
  grpc::Status s;
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext ctx;
    nfr::v1::RemoveRuleRequest req;
    req.set_rule_id("nope");
    nfr::v1::RemoveRuleResponse resp;
    s = policy->RemoveRule(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::NOT_FOUND) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    nfr::v1::DecideRequest req;
    req.set_pending_id(12345);
    req.set_verdict(nfr::v1::VERDICT_ACCEPT);
    nfr::v1::DecideResponse resp;
    s = ConnStub()->Decide(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_NE(s.error_message().find("api.limits.changes_per_second (5/s"), std::string::npos)
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    nfr::v1::GetPolicyResponse resp;
    EXPECT_TRUE(policy->GetPolicy(&ctx, {}, &resp).ok());  // reads are not limited
  }
  EXPECT_EQ(Counters().api_rate_limited(), 1u);
  std::this_thread::sleep_for(milliseconds(1100));

  // An 8 KiB bad value comes back cut.
  grpc::ClientContext ctx;
  nfr::v1::UpdateSetRequest req;
  req.set_name(std::string(8192, 'x'));
  req.add_add("10.0.0.0/8");
  nfr::v1::UpdateSetResponse resp;
  s = policy->UpdateSet(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  EXPECT_LT(s.error_message().size(), 400u) << s.error_message();
  EXPECT_NE(s.error_message().find("[8194 bytes]"), std::string::npos) << s.error_message();
  // A comment over 256 bytes is refused.
  grpc::ClientContext ctx2;
  nfr::v1::ApplyPolicyRequest apply;
  *apply.mutable_policy() = control_->GetPolicy();
  apply.set_comment(std::string(4 << 20, 'c'));
  nfr::v1::ApplyPolicyResponse applied;
  s = policy->ApplyPolicy(&ctx2, apply, &applied);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("comment: 4194304 bytes, over the limit of 256"),
            std::string::npos)
      << s.error_message();
}

}  // namespace
}  // namespace nfr::test
