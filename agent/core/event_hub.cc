#include "agent/core/event_hub.h"

#include <algorithm>

namespace nfr {

EventHub::EventHub(size_t capacity)
    : capacity_(capacity),
      subs_(std::make_shared<const std::vector<std::shared_ptr<HubSubscriber>>>()) {
  thread_ = std::thread([this] { Run(); });
}

EventHub::~EventHub() { Stop(); }

void EventHub::PublishPendingAdded(const nfr::v1::PendingConnection& pending) {
  auto e = std::make_shared<HubEvent>();
  e->kind = HubEvent::kPendingAdded;
  e->pending = pending;
  Push(std::move(e));
}

void EventHub::PublishPendingResolved(const nfr::v1::PendingConnection& pending,
                                      const nfr::v1::Decision& decision) {
  auto e = std::make_shared<HubEvent>();
  e->kind = decision.source() == nfr::v1::DECISION_SOURCE_TIMEOUT ? HubEvent::kPendingExpired
                                                                  : HubEvent::kPendingResolved;
  e->pending = pending;
  e->decision = decision;
  Push(std::move(e));
}

void EventHub::PublishFlowDecided(const nfr::v1::Decision& decision) {
  auto e = std::make_shared<HubEvent>();
  e->kind = HubEvent::kFlowDecided;
  e->decision = decision;
  Push(std::move(e));
}

void EventHub::Push(std::shared_ptr<HubEvent> event) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    if (ring_.size() >= capacity_) {
      ++lost_since_delivery_;
      dropped_.fetch_add(1);
      return;
    }
    ring_.push_back(std::move(event));
    ++pushed_seq_;
    if (!waiting_) return;  // the dispatcher is awake and will see it
    waiting_ = false;
  }
  wake_.notify_one();
}

void EventHub::Subscribe(std::shared_ptr<HubSubscriber> subscriber) {
  std::lock_guard<std::mutex> l(subs_mu_);
  auto next = std::make_shared<std::vector<std::shared_ptr<HubSubscriber>>>(*subs_);
  next->push_back(std::move(subscriber));
  subs_ = std::move(next);
}

void EventHub::Unsubscribe(const HubSubscriber* subscriber) {
  std::lock_guard<std::mutex> l(subs_mu_);
  auto next = std::make_shared<std::vector<std::shared_ptr<HubSubscriber>>>(*subs_);
  next->erase(std::remove_if(next->begin(), next->end(),
                             [&](const auto& s) { return s.get() == subscriber; }),
              next->end());
  subs_ = std::move(next);
}

size_t EventHub::subscribers() const {
  std::lock_guard<std::mutex> l(subs_mu_);
  return subs_->size();
}

void EventHub::Run() {
  std::deque<std::shared_ptr<HubEvent>> batch;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    waiting_ = true;
    wake_.wait(l, [&] { return stop_ || !ring_.empty() || lost_since_delivery_; });
    waiting_ = false;
    if (stop_) {
      return;
    }
    if (ring_.size() < kCoalesceEnough) {
      // Let a burst gather: one wake-up per burst instead of one per event.
      l.unlock();
      std::this_thread::sleep_for(kCoalesce);
      l.lock();
      if (stop_) return;
    }
    batch.swap(ring_);
    const uint64_t seq = pushed_seq_;
    const uint64_t lost = lost_since_delivery_;
    lost_since_delivery_ = 0;
    l.unlock();
    std::shared_ptr<const std::vector<std::shared_ptr<HubSubscriber>>> subs;
    {
      std::lock_guard<std::mutex> sl(subs_mu_);
      subs = subs_;
    }
    if (lost) {
      for (const auto& s : *subs) s->Lost(lost);
    }
    for (auto& e : batch) {
      std::shared_ptr<const HubEvent> ce = std::move(e);
      for (const auto& s : *subs) s->Deliver(ce);
    }
    batch.clear();
    l.lock();
    dispatched_seq_ = seq;
    dispatched_.notify_all();
  }
}

void EventHub::Flush() {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t target = pushed_seq_;
  dispatched_.wait(l, [&] { return stop_ || dispatched_seq_ >= target; });
}

void EventHub::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    stop_ = true;
    waiting_ = false;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::shared_ptr<const std::vector<std::shared_ptr<HubSubscriber>>> subs;
  {
    std::lock_guard<std::mutex> l(subs_mu_);
    subs = subs_;
    subs_ = std::make_shared<const std::vector<std::shared_ptr<HubSubscriber>>>();
  }
  for (const auto& s : *subs) s->Close();
}

}  // namespace nfr
