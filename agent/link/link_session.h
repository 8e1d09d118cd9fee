// One attached ControllerLink stream: Hello/Welcome, then requests answered
// through agent/core, pending events and status pushed, decisions uploaded
// above the gateway's acknowledged id. Ends when the stream does.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/core/core.h"
#include "nfr/v1/config.pb.h"
#include "nfr/v1/link.grpc.pb.h"

namespace nfr {

struct LinkCounters;

class LinkSession {
 public:
  struct Hooks {
    std::function<void(const nfr::v1::Welcome&)> welcomed;
    std::function<void(uint64_t acked)> acked;
    std::function<void(nfr::v1::AgentStatus*)> status;  // adds the link's own state
  };
  LinkSession(Core* core, const nfr::v1::ControllerConfig& config, LinkCounters* counters);

  // Blocks until the stream ends; the reason (gRPC status, or what broke).
  absl::Status Run(const std::shared_ptr<grpc::Channel>& channel, const Hooks& hooks);
  // From any thread: ends Run soon.
  void Cancel();

 private:
  class Subscriber;
  void Push(nfr::v1::AgentFrame frame, bool droppable);
  void WriteLoop(grpc::ClientReaderWriter<nfr::v1::AgentFrame, nfr::v1::ControllerFrame>* s);
  void WorkLoop();
  void UploadLoop();
  nfr::v1::LinkResponse Answer(const nfr::v1::LinkRequest& req);
  nfr::v1::AgentStatus Status();
  void MarkDecisionsDirty();

  Core* const core_;
  const nfr::v1::ControllerConfig& config_;
  LinkCounters* const counters_;
  grpc::ClientContext ctx_;
  std::string gateway_;
  std::function<void(nfr::v1::AgentStatus*)> status_extra_;

  std::mutex mu_;
  std::condition_variable out_cv_, work_cv_, upload_cv_;
  bool done_ = false;
  std::deque<nfr::v1::AgentFrame> outbox_;
  std::deque<nfr::v1::LinkRequest> work_;
  bool decisions_dirty_ = true;
  uint64_t floor_ = 0;                   // ids at or below: uploaded or acknowledged
  std::map<uint64_t, absl::Time> sent_;  // uploaded above floor_, when
  absl::Duration status_interval_ = absl::Seconds(10);
};

}  // namespace nfr
