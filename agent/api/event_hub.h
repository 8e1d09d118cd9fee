// Fans verdict-engine events out to many API watchers. Producers (queue
// threads) only append to one bounded ring; a dispatcher thread logs
// decisions (async store writer) and hands events to subscribers, whose own
// queues are bounded. Nothing here ever blocks a producer on a watcher.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/time/time.h"
#include "agent/runtime/agent_control.h"
#include "agent/store/store.h"

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

class EventHub : public EventSink {
 public:
  // `store` may be null (no decision log).
  explicit EventHub(Store* store, size_t capacity = 65536);
  ~EventHub() override;

  void OnPendingAdded(const nfr::v1::PendingConnection& pending) override;
  void OnPendingResolved(const nfr::v1::PendingConnection& pending,
                         const nfr::v1::Decision& decision) override;
  void OnFlowDecided(const nfr::v1::Decision& decision) override;

  void Subscribe(std::shared_ptr<HubSubscriber> subscriber);
  void Unsubscribe(const HubSubscriber* subscriber);

  // The API's Decide reserves the log id of the decision it is about to make,
  // so the streamed record and the synchronously logged one agree; the hub
  // then does not log that decision itself.
  // `rule_id`, when set, replaces the decision's rule (RULE scope: the new rule).
  void ExpectControllerDecision(uint64_t pending_id, uint64_t decision_id,
                                const std::string& rule_id = "");
  void ForgetControllerDecision(uint64_t pending_id);

  // Waits until every event pushed before the call has been dispatched (and
  // handed to the decision log).
  void Flush();

  // Stops the dispatcher and closes every subscriber.
  void Stop();

  uint64_t dropped() const { return dropped_.load(); }
  size_t subscribers() const;

 private:
  void Push(std::shared_ptr<HubEvent> event);
  void Run();
  void Prepare(HubEvent& event);  // dispatcher: ids, log

  Store* store_;
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<HubEvent>> ring_;
  std::condition_variable dispatched_;
  uint64_t pushed_seq_ = 0;
  uint64_t dispatched_seq_ = 0;
  uint64_t lost_since_delivery_ = 0;
  bool stop_ = false;
  std::atomic<uint64_t> dropped_{0};

  mutable std::mutex subs_mu_;
  std::shared_ptr<const std::vector<std::shared_ptr<HubSubscriber>>> subs_;

  std::mutex expect_mu_;
  struct Expected {
    uint64_t decision_id;
    std::string rule_id;
  };
  std::unordered_map<uint64_t, Expected> expected_;  // by pending id

  std::thread thread_;
};

}  // namespace nfr
