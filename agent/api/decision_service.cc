#include "agent/api/decision_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/api/failed_stream.h"
#include "agent/core/flow_filter.h"
#include "agent/api/request_validation.h"
#include "agent/api/watch_stream.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

using nfr::v1::DecisionEvent;

constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

absl::StatusOr<FlowFilter> ParseDecisionFilter(const nfr::v1::DecisionFilter& f) {
  FlowFilter out;
  if (absl::Status s = CheckVerdict(f.verdict(), "filter.verdict", true); !s.ok()) return s;
  out.verdict = f.verdict();
  if (!nfr::v1::DecisionSource_IsValid(f.source())) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.source: ", static_cast<int>(f.source()),
                     " is not a decision source; use POLICY, CONTROLLER, TIMEOUT or OVERFLOW"));
  }
  out.source = f.source();
  absl::StatusOr<std::optional<AddrRange>> p = ParseFilterPrefix(f.prefix(), "filter.prefix");
  if (!p.ok()) return p.status();
  out.prefix = *p;
  return out;
}

absl::StatusOr<absl::Time> ParseTime(const google::protobuf::Timestamp& t,
                                     absl::string_view field) {
  if (t.nanos() < 0 || t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".nanos: must be 0..999999999"));
  }
  return FromProtoTime(t);
}

class DecisionWatch final : public WatchStream<DecisionEvent> {
 public:
  DecisionWatch(EventHub* hub, size_t capacity, FlowFilter filter, std::atomic<uint64_t>* lost)
      : WatchStream(hub, capacity, lost), filter_(std::move(filter)) {}

 protected:
  std::optional<DecisionEvent> ConvertLocked(const HubEvent& ev) override {
    if (ev.kind == HubEvent::kPendingAdded || !filter_.Matches(ev.decision)) return std::nullopt;
    DecisionEvent e;
    *e.mutable_decision() = ev.decision;
    return e;
  }

 private:
  const FlowFilter filter_;
};

}  // namespace

grpc::ServerUnaryReactor* DecisionServiceImpl::ListDecisions(
    grpc::CallbackServerContext* ctx, const nfr::v1::ListDecisionsRequest* req,
    nfr::v1::ListDecisionsResponse* resp) {
  return FinishBlocking(api_, ctx, [this, ctx, req, resp]() -> absl::Status {
    Caller caller;
    if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "ListDecisions", &caller);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<FlowFilter> filter = ParseDecisionFilter(req->filter());
    if (!filter.ok()) return filter.status();
    DecisionQuery q;
    q.verdict = filter->verdict;
    q.source = filter->source;
    q.prefix = filter->prefix;
    if (req->filter().has_since()) {
      absl::StatusOr<absl::Time> t = ParseTime(req->filter().since(), "filter.since");
      if (!t.ok()) return t.status();
      q.since = *t;
    }
    if (req->filter().has_until()) {
      absl::StatusOr<absl::Time> t = ParseTime(req->filter().until(), "filter.until");
      if (!t.ok()) return t.status();
      q.until = *t;
    }
    if (req->page_size() > kMaxPageSize) {
      return absl::InvalidArgumentError(absl::StrCat("page_size: ", req->page_size(),
                                                     " exceeds the maximum of ", kMaxPageSize,
                                                     "; page with next_page_token"));
    }
    q.limit = req->page_size() ? req->page_size() : kDefaultPageSize;
    if (!req->page_token().empty() &&
        (!absl::SimpleAtoi(req->page_token(), &q.before_id) || q.before_id == 0)) {
      return absl::InvalidArgumentError(
          "page_token: not a token from a previous ListDecisions response");
    }
    absl::StatusOr<DecisionPage> page = api_.core->decisions().List(q);
    if (!page.ok()) return page.status();
    for (nfr::v1::Decision& d : page->decisions) *resp->add_decisions() = std::move(d);
    if (page->next_before_id) resp->set_next_page_token(absl::StrCat(page->next_before_id));
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<DecisionEvent>* DecisionServiceImpl::WatchDecisions(
    grpc::CallbackServerContext* ctx, const nfr::v1::WatchDecisionsRequest* req) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "WatchDecisions", &caller);
      !s.ok()) {
    return new FailedStream<DecisionEvent>(s);
  }
  absl::StatusOr<FlowFilter> filter = ParseDecisionFilter(req->filter());
  if (!filter.ok()) return new FailedStream<DecisionEvent>(filter.status());
  auto watch = std::make_shared<DecisionWatch>(&api_.core->hub(), api_.watcher_queue, std::move(*filter),
                                               &api_.events_lost);
  return WatchStream<DecisionEvent>::Start(watch);
}

}  // namespace nfr
