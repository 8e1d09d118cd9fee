// A server-streaming watch (callback API) fed by the EventHub: a bounded
// per-watcher queue; when full, events are dropped and one LostEvents notice
// with the count takes their place. Subclasses turn hub events into stream
// messages (filtering) in Convert().
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "agent/api/api_limits.h"
#include "agent/core/event_hub.h"

namespace nfr {

// Msg: nfr::v1::PendingEvent or nfr::v1::DecisionEvent (both have `lost`).
template <typename Msg>
class WatchStream : public HubSubscriber {
 public:
  WatchStream(EventHub* hub, size_t capacity, std::atomic<uint64_t>* lost_counter)
      : hub_(hub), capacity_(capacity), lost_counter_(lost_counter) {}

  // Creates the reactor gRPC drives; the stream subscribes to the hub and
  // holds `slot` (its place under api.limits.max_streams) until it ends.
  static grpc::ServerWriteReactor<Msg>* Start(std::shared_ptr<WatchStream> self,
                                              std::unique_ptr<StreamGate::Slot> slot = nullptr);

  void Deliver(const std::shared_ptr<const HubEvent>& event) override {
    std::unique_lock<std::mutex> l(mu_);
    std::optional<Msg> m = ConvertLocked(*event);
    if (!m) return;
    EnqueueLocked(std::move(*m));
    MaybeWriteLocked(l);
  }

  void Lost(uint64_t count) override {
    std::unique_lock<std::mutex> l(mu_);
    AddLostLocked(count);
    MaybeWriteLocked(l);
  }

  void Close() override { Finish(grpc::Status(grpc::UNAVAILABLE, "nfr-agent is shutting down")); }

  uint64_t lost_total() const {
    std::lock_guard<std::mutex> l(mu_);
    return lost_total_;
  }

 protected:
  // Under mu_. nullopt: the event is not for this watcher.
  virtual std::optional<Msg> ConvertLocked(const HubEvent& event) = 0;

  size_t capacity() const { return capacity_; }

  // For snapshots: queued ahead of the live events (the caller keeps them
  // within capacity()).
  void PushFrontLocked(std::deque<Msg> msgs) {
    for (auto it = msgs.rbegin(); it != msgs.rend(); ++it) queue_.push_front(std::move(*it));
  }
  void EnqueueLocked(Msg m) {
    if (queue_.size() >= capacity_) {
      AddLostLocked(1);
      return;
    }
    queue_.push_back(std::move(m));
  }
  void KickLocked(std::unique_lock<std::mutex>& l) { MaybeWriteLocked(l); }

  mutable std::mutex mu_;
  EventHub* const hub_;

 private:
  class Reactor : public grpc::ServerWriteReactor<Msg> {
   public:
    explicit Reactor(std::shared_ptr<WatchStream> s) : s_(std::move(s)) {}
    void OnWriteDone(bool ok) override { s_->WriteDone(ok); }
    void OnCancel() override { s_->Finish(grpc::Status(grpc::CANCELLED, "watch cancelled")); }
    void OnDone() override {
      s_->Done();
      delete this;
    }

   private:
    std::shared_ptr<WatchStream> s_;
  };

  void AddLostLocked(uint64_t count) {
    lost_total_ += count;
    if (lost_counter_ != nullptr) lost_counter_->fetch_add(count);
    if (!queue_.empty() && queue_.back().has_lost()) {
      auto* lost = queue_.back().mutable_lost();
      lost->set_count(lost->count() + count);
      return;
    }
    Msg m;
    m.mutable_lost()->set_count(count);
    queue_.push_back(std::move(m));  // may exceed capacity by this one notice
  }

  // Starts the next write if idle. Releases `l`.
  void MaybeWriteLocked(std::unique_lock<std::mutex>& l) {
    if (reactor_ == nullptr || writing_ || finished_ || queue_.empty()) return;
    if (closing_) return;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    grpc::ServerWriteReactor<Msg>* r = reactor_;
    l.unlock();
    r->StartWrite(&out_);
  }

  void WriteDone(bool ok) {
    std::unique_lock<std::mutex> l(mu_);
    writing_ = false;
    if (!ok) closing_ = true;
    if (closing_) {
      FinishLocked(l);
      return;
    }
    MaybeWriteLocked(l);
  }

  void Finish(grpc::Status status) {
    std::unique_lock<std::mutex> l(mu_);
    if (!closing_) status_ = std::move(status);
    closing_ = true;
    FinishLocked(l);
  }

  void FinishLocked(std::unique_lock<std::mutex>& l) {
    if (writing_ || finished_ || reactor_ == nullptr) return;
    finished_ = true;
    grpc::ServerWriteReactor<Msg>* r = reactor_;
    grpc::Status s = status_;
    l.unlock();
    r->Finish(s);
  }

  void Done() {
    hub_->Unsubscribe(this);
    std::deque<Msg> freed;
    std::unique_ptr<StreamGate::Slot> slot;
    {
      std::lock_guard<std::mutex> l(mu_);
      reactor_ = nullptr;
      freed.swap(queue_);
      slot.swap(slot_);
    }
    freed.clear();  // before the slot goes: its release may return memory to the system
  }

  const size_t capacity_;
  std::atomic<uint64_t>* const lost_counter_;
  std::deque<Msg> queue_;
  Msg out_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  grpc::Status status_;
  uint64_t lost_total_ = 0;
  grpc::ServerWriteReactor<Msg>* reactor_ = nullptr;
  std::unique_ptr<StreamGate::Slot> slot_;
};

template <typename Msg>
grpc::ServerWriteReactor<Msg>* WatchStream<Msg>::Start(std::shared_ptr<WatchStream> self,
                                                       std::unique_ptr<StreamGate::Slot> slot) {
  auto* r = new Reactor(self);
  {
    std::unique_lock<std::mutex> l(self->mu_);
    self->reactor_ = r;
    self->slot_ = std::move(slot);
  }
  self->hub_->Subscribe(self);
  return r;
}

}  // namespace nfr
