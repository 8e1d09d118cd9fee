// Fans the core's events (pending added/resolved, decisions already logged)
// out to watchers. Producers only append to one bounded ring; a dispatcher
// thread hands events to subscribers, whose own queues are bounded. Nothing
// here ever blocks a producer on a watcher. The dispatcher gathers events for up to
// kCoalesce after a wake-up, so a producer signals it at most about once per kCoalesce.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "nfr/v1/flow.pb.h"

namespace nfr {

struct HubEvent {
  enum Kind { kPendingAdded, kPendingResolved, kPendingExpired, kFlowDecided };
  Kind kind;
  nfr::v1::PendingConnection pending;  // kPending*
  nfr::v1::Decision decision;          // kPendingResolved, kPendingExpired, kFlowDecided
};

class HubSubscriber {
 public:
  virtual ~HubSubscriber() = default;
  // Dispatcher thread; must not block.
  virtual void Deliver(const std::shared_ptr<const HubEvent>& event) = 0;
  // The hub's own ring overflowed: `count` events never reached anyone.
  virtual void Lost(uint64_t count) = 0;
  // The hub is stopping: end the stream.
  virtual void Close() = 0;
};

class EventHub {
 public:
  static constexpr std::chrono::microseconds kCoalesce{500};
  static constexpr size_t kCoalesceEnough = 256;  // dispatch at once from this many events

  explicit EventHub(size_t capacity = 65536);
  ~EventHub();

  void PublishPendingAdded(const nfr::v1::PendingConnection& pending);
  // `decision` is the logged record (id assigned).
  void PublishPendingResolved(const nfr::v1::PendingConnection& pending,
                              const nfr::v1::Decision& decision);
  void PublishFlowDecided(const nfr::v1::Decision& decision);

  void Subscribe(std::shared_ptr<HubSubscriber> subscriber);
  void Unsubscribe(const HubSubscriber* subscriber);

  // Waits until every event pushed before the call has been dispatched.
  void Flush();

  // Stops the dispatcher and closes every subscriber.
  void Stop();

  uint64_t dropped() const { return dropped_.load(); }
  size_t subscribers() const;

 private:
  void Push(std::shared_ptr<HubEvent> event);
  void Run();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<HubEvent>> ring_;
  std::condition_variable dispatched_;
  uint64_t pushed_seq_ = 0;
  uint64_t dispatched_seq_ = 0;
  uint64_t lost_since_delivery_ = 0;
  bool stop_ = false;
  bool waiting_ = false;  // the dispatcher sleeps: a push must wake it
  std::atomic<uint64_t> dropped_{0};

  mutable std::mutex subs_mu_;
  std::shared_ptr<const std::vector<std::shared_ptr<HubSubscriber>>> subs_;

  std::thread thread_;
};

}  // namespace nfr
