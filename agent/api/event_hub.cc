#include "agent/api/event_hub.h"

#include <algorithm>

namespace nfr {

EventHub::EventHub(Store* store, size_t capacity)
    : store_(store),
      capacity_(capacity),
      subs_(std::make_shared<const std::vector<std::shared_ptr<HubSubscriber>>>()) {
  thread_ = std::thread([this] { Run(); });
}

EventHub::~EventHub() { Stop(); }

void EventHub::OnPendingAdded(const nfr::v1::PendingConnection& pending) {
  auto e = std::make_shared<HubEvent>();
  e->kind = HubEvent::kPendingAdded;
  e->pending = pending;
  Push(std::move(e));
}

void EventHub::OnPendingResolved(const nfr::v1::PendingConnection& pending,
                                 const nfr::v1::Decision& decision) {
  auto e = std::make_shared<HubEvent>();
  e->kind = decision.source() == nfr::v1::DECISION_SOURCE_TIMEOUT ? HubEvent::kPendingExpired
                                                                  : HubEvent::kPendingResolved;
  e->pending = pending;
  e->decision = decision;
  Push(std::move(e));
}

void EventHub::OnFlowDecided(const nfr::v1::Decision& decision) {
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

void EventHub::ExpectControllerDecision(uint64_t pending_id, uint64_t decision_id,
                                        const std::string& rule_id) {
  std::lock_guard<std::mutex> l(expect_mu_);
  expected_[pending_id] = Expected{decision_id, rule_id};
}

void EventHub::ForgetControllerDecision(uint64_t pending_id) {
  std::lock_guard<std::mutex> l(expect_mu_);
  expected_.erase(pending_id);
}

void EventHub::Prepare(HubEvent& e) {
  if (e.kind == HubEvent::kPendingAdded) return;
  nfr::v1::Decision& d = e.decision;
  if (e.kind == HubEvent::kPendingResolved && d.source() == nfr::v1::DECISION_SOURCE_CONTROLLER) {
    std::lock_guard<std::mutex> l(expect_mu_);
    auto it = expected_.find(e.pending.id());
    if (it != expected_.end()) {
      d.set_id(it->second.decision_id);
      if (!it->second.rule_id.empty()) d.set_rule_id(it->second.rule_id);
      expected_.erase(it);
      return;  // logged synchronously by the API's Decide
    }
  }
  if (store_ == nullptr) return;
  if (d.id() == 0) d.set_id(store_->NextDecisionId());
  if (!d.has_time()) {
    const int64_t us = absl::ToUnixMicros(absl::Now());
    d.mutable_time()->set_seconds(us / 1000000);
    d.mutable_time()->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  }
  store_->EnqueueDecision(d);
}

void EventHub::Run() {
  std::deque<std::shared_ptr<HubEvent>> batch;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    wake_.wait(l, [&] { return stop_ || !ring_.empty() || lost_since_delivery_; });
    if (stop_) {
      // Nobody is watching any more, but what happened must still be logged.
      batch.swap(ring_);
      l.unlock();
      for (auto& e : batch) Prepare(*e);
      return;
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
      Prepare(*e);
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
