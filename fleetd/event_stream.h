// A server stream of fleet events for one controller: registered with the
// registry as a FleetWatcher, bounded queue (a slow reader gets a `lost`
// event instead of holding anything up), ends when the client goes away.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "fleetd/controller_auth.h"
#include "fleetd/registry.h"

namespace nfr {

struct WatchScope {
  std::string agent_id;  // empty = any
  std::optional<Selector> selector;
  Controller controller;

  bool Wants(const nfr::v1::FleetAgent& a) const {
    return (agent_id.empty() || a.id() == agent_id) &&
           (!selector.has_value() || selector->Matches(a.labels())) && controller.Reaches(a);
  }
};

template <typename Event>
struct EventMapping {
  std::function<std::optional<Event>(const std::string&, const nfr::v1::PendingEvent&)> pending;
  std::function<std::optional<Event>(const std::string&, const nfr::v1::Decision&)> decision;
  std::function<Event(uint64_t lost)> lost;
};

template <typename Event>
class EventStream {
 public:
  // Returns the reactor; `first` are sent before live events.
  static grpc::ServerWriteReactor<Event>* Start(
      Registry* registry, WatchScope scope, EventMapping<Event> map, size_t capacity,
      const std::function<std::vector<Event>(
          const std::vector<std::pair<std::string, nfr::v1::PendingConnection>>&)>& first) {
    auto sink = std::make_shared<Sink>(std::move(scope), std::move(map), capacity);
    auto* r = new Reactor(registry, sink);
    sink->reactor = r;
    std::vector<std::pair<std::string, nfr::v1::PendingConnection>> now;
    {
      std::lock_guard<std::recursive_mutex> l(sink->mu);
      sink->holding = true;  // live events wait behind the snapshot
    }
    now = registry->Watch(sink);
    std::vector<Event> front = first ? first(now) : std::vector<Event>{};
    {
      std::lock_guard<std::recursive_mutex> l(sink->mu);
      for (auto it = front.rbegin(); it != front.rend(); ++it) sink->queue.push_front(*it);
      sink->holding = false;
      sink->KickLocked();
    }
    return r;
  }

 private:
  class Reactor;
  struct Sink : FleetWatcher {
    Sink(WatchScope s, EventMapping<Event> m, size_t cap)
        : scope(std::move(s)), map(std::move(m)), capacity(cap) {}
    bool Wants(const nfr::v1::FleetAgent& a) const override { return scope.Wants(a); }
    void Pending(const std::string& id, const nfr::v1::PendingEvent& ev) override {
      if (map.pending) {
        if (std::optional<Event> e = map.pending(id, ev)) Push(std::move(*e));
      }
    }
    void Decision(const std::string& id, const nfr::v1::Decision& d) override {
      if (map.decision) {
        if (std::optional<Event> e = map.decision(id, d)) Push(std::move(*e));
      }
    }
    void Push(Event e) {
      std::lock_guard<std::recursive_mutex> l(mu);
      if (reactor == nullptr) return;
      if (queue.size() >= capacity) {
        ++lost;
        return;
      }
      if (lost) {
        queue.push_back(map.lost(lost));
        lost = 0;
      }
      queue.push_back(std::move(e));
      KickLocked();
    }
    void KickLocked() {
      if (writing || holding || queue.empty() || reactor == nullptr) return;
      writing = true;
      reactor->StartWrite(&queue.front());
    }
    void WriteDone(bool ok) {
      std::lock_guard<std::recursive_mutex> l(mu);
      queue.pop_front();
      writing = false;
      if (!ok || reactor == nullptr) return;
      KickLocked();
    }

    const WatchScope scope;
    const EventMapping<Event> map;
    const size_t capacity;
    std::recursive_mutex mu;
    Reactor* reactor = nullptr;
    std::deque<Event> queue;
    bool writing = false;
    bool holding = false;
    uint64_t lost = 0;
  };

  class Reactor : public grpc::ServerWriteReactor<Event> {
   public:
    Reactor(Registry* r, std::shared_ptr<Sink> s) : registry_(r), sink_(std::move(s)) {}
    void OnWriteDone(bool ok) override {
      sink_->WriteDone(ok);
      if (!ok) End(grpc::Status::OK);
    }
    void OnCancel() override { End(grpc::Status::CANCELLED); }
    void End(const grpc::Status& s) {
      if (!finished_.exchange(true)) this->Finish(s);
    }
    void OnDone() override {
      registry_->Unwatch(sink_.get());
      {
        std::lock_guard<std::recursive_mutex> l(sink_->mu);
        sink_->reactor = nullptr;
      }
      delete this;
    }

   private:
    Registry* const registry_;
    std::shared_ptr<Sink> sink_;
    std::atomic<bool> finished_{false};
  };
};

}  // namespace nfr
