// Delivers verdict-engine events to every registered EventSink (the API's
// event hub, the decision log, ...). Sinks are added before the agent starts.
#pragma once

#include <vector>

#include "agent/runtime/agent_control.h"

namespace nfr {

class EventFanout : public EventSink {
 public:
  void Add(EventSink* sink) { sinks_.push_back(sink); }
  void OnPendingAdded(const nfr::v1::PendingConnection& pending) override {
    for (auto* s : sinks_) s->OnPendingAdded(pending);
  }
  void OnPendingResolved(const nfr::v1::PendingConnection& pending,
                         const nfr::v1::Decision& decision) override {
    for (auto* s : sinks_) s->OnPendingResolved(pending, decision);
  }
  void OnFlowDecided(const nfr::v1::Decision& decision) override {
    for (auto* s : sinks_) s->OnFlowDecided(decision);
  }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace nfr
