// The agent's queue layer alone (QueueSet: recvmmsg, batch verdicts) with a handler that
// accepts everything: what bench/newflow_rate.py compares with the bare libnetfilter_queue loop to
// show the queue layer's own cost. usage: queue_accept_loop FIRST COUNT; prints "ready", then
// {"verdicts": N} after SIGTERM.
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "agent/queue/queue_set.h"

namespace {

class AcceptAll : public nfr::PacketHandler {
 public:
  nfr::QueueAction OnPacket(const nfr::QueuedPacket&) override { return nfr::QueueAction::kAccept; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s FIRST_QUEUE COUNT\n", argv[0]);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the queue threads start
  AcceptAll handler;
  nfr::QueueOptions options;
  options.overflow = nfr::OverflowVerdict::kAccept;  // like the bare loop
  auto queues = nfr::QueueSet::Open(static_cast<uint16_t>(std::atoi(argv[1])),
                                    static_cast<uint16_t>(std::atoi(argv[2])), options, &handler);
  if (!queues.ok()) {
    std::fprintf(stderr, "%s\n", queues.status().ToString().c_str());
    return 1;
  }
  (*queues)->Start();
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*queues)->Stop();
  const nfr::QueueStats s = (*queues)->stats();
  std::printf(
      "{\"verdicts\": %llu, \"batch_verdicts\": %llu, \"enobufs\": %llu, \"errors\": %llu}\n",
      static_cast<unsigned long long>(s.accepted),
      static_cast<unsigned long long>(s.batch_verdicts), static_cast<unsigned long long>(s.enobufs),
      static_cast<unsigned long long>(s.errors));
  return 0;
}
