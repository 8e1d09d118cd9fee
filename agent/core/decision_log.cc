#include "agent/core/decision_log.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/core/flow_filter.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

absl::StatusOr<absl::Time> ParseTime(const google::protobuf::Timestamp& t,
                                     absl::string_view field) {
  if (t.nanos() < 0 || t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".nanos: must be 0..999999999"));
  }
  return FromProtoTime(t);
}

}  // namespace

void DecisionLog::Stamp(nfr::v1::Decision& d) {
  if (d.id() == 0) d.set_id(store_->NextDecisionId());
  if (!d.has_time()) *d.mutable_time() = ToProtoTime(absl::Now());
}

nfr::v1::Decision DecisionLog::Record(nfr::v1::Decision decision) {
  Stamp(decision);
  store_->EnqueueDecision(decision);
  return decision;
}

absl::StatusOr<nfr::v1::Decision> DecisionLog::RecordDurable(nfr::v1::Decision decision) {
  Stamp(decision);
  if (absl::Status s = store_->AppendDecision(decision); !s.ok()) {
    // The store's full-disk text says "nothing was changed", true of the log, not of the verdict.
    return absl::Status(
        s.code() == absl::StatusCode::kResourceExhausted ? s.code() : absl::StatusCode::kInternal,
        absl::StrCat("the verdict was applied, but the decision log could not record it: ",
                     absl::StrReplaceAll(s.message(), {{"; nothing was changed", ""},
                                                       {" and retry", "; the verdict stands"}})));
  }
  return decision;
}

absl::StatusOr<nfr::v1::ListDecisionsResponse> DecisionLog::List(
    const nfr::v1::ListDecisionsRequest& req) {
  absl::StatusOr<FlowFilter> filter = DecisionFilterFrom(req.filter());
  if (!filter.ok()) return filter.status();
  DecisionQuery q;
  q.verdict = filter->verdict;
  q.source = filter->source;
  q.prefix = filter->prefix;
  if (req.filter().has_since()) {
    absl::StatusOr<absl::Time> t = ParseTime(req.filter().since(), "filter.since");
    if (!t.ok()) return t.status();
    q.since = *t;
  }
  if (req.filter().has_until()) {
    absl::StatusOr<absl::Time> t = ParseTime(req.filter().until(), "filter.until");
    if (!t.ok()) return t.status();
    q.until = *t;
  }
  if (req.page_size() > kMaxDecisionPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: ", req.page_size(),
                                                   " exceeds the maximum of ", kMaxDecisionPageSize,
                                                   "; page with next_page_token"));
  }
  q.limit = req.page_size() ? req.page_size() : kDefaultDecisionPageSize;
  if (!req.page_token().empty() &&
      (!absl::SimpleAtoi(req.page_token(), &q.before_id) || q.before_id == 0)) {
    return absl::InvalidArgumentError(
        "page_token: not a token from a previous ListDecisions response");
  }
  absl::StatusOr<DecisionPage> page = store_->ListDecisions(q);
  if (!page.ok()) return page.status();
  nfr::v1::ListDecisionsResponse out;
  for (nfr::v1::Decision& d : page->decisions) *out.add_decisions() = std::move(d);
  if (page->next_before_id) out.set_next_page_token(absl::StrCat(page->next_before_id));
  return out;
}

}  // namespace nfr
