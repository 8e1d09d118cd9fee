#include "fleetd/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

void Touch(nfr::v1::FleetAgent& a) { *a.mutable_last_seen() = ToProtoTime(absl::Now()); }

}  // namespace

Registry::Registry(FleetStore* store, std::string name, uint32_t status_interval_seconds)
    : store_(store), name_(std::move(name)), status_interval_(status_interval_seconds) {
  for (nfr::v1::FleetAgent& a : store_->Agents()) {
    a.set_connected(false);
    a.clear_connected_since();
    agents_[a.id()].info = std::move(a);
  }
  sweeper_ = std::thread([this] { Sweep(); });
}

Registry::~Registry() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  sweeper_.join();
}

nfr::v1::Welcome Registry::Attach(std::shared_ptr<LinkSender> link, const std::string& id,
                                  const std::string& peer, const nfr::v1::Hello& hello) {
  std::shared_ptr<LinkSender> old;
  std::vector<Done> failed;
  std::vector<absl::Status> why;
  nfr::v1::FleetAgent snapshot;
  {
    std::lock_guard<std::mutex> l(mu_);
    Entry& e = agents_[id];
    old = e.link;
    FailAll(e, absl::UnavailableError(absl::StrCat("agent ", id, " reconnected; retry")), &failed,
            &why);
    e.link = link;
    e.pending.clear();
    nfr::v1::FleetAgent& a = e.info;
    a.set_id(id);
    *a.mutable_labels() = hello.labels();
    a.set_version(hello.version());
    a.set_mode(hello.status().mode());
    a.set_policy_version(hello.status().policy_version());
    a.set_pending(hello.status().counters().pending_now());
    a.set_connected(true);
    a.set_peer(peer);
    *a.mutable_connected_since() = ToProtoTime(absl::Now());
    Touch(a);
    snapshot = a;
  }
  for (size_t i = 0; i < failed.size(); ++i) failed[i](why[i]);
  if (old != nullptr) {
    LogLine(absl::StrCat("nfr-fleetd: agent ", id, " attached again from ", peer,
                         "; closing its previous link"));
    old->Close(absl::AbortedError("replaced by a newer link from the same agent"));
  }
  counters_.links++;
  nfr::v1::Welcome w;
  w.set_gateway(name_);
  w.set_acked_decision_id(store_->MaxDecisionId(id));
  w.set_status_interval_seconds(status_interval_);
  snapshot.set_acked_decision_id(w.acked_decision_id());
  (void)store_->SeeAgent(snapshot);
  LogLine(absl::StrCat("nfr-fleetd: agent ", id, " attached from ", peer, " (version ",
                       hello.version(), ", policy v", hello.status().policy_version(),
                       ", acked decision ", w.acked_decision_id(), ")"));
  return w;
}

void Registry::FailAll(Entry& e, const absl::Status& why, std::vector<Done>* out,
                       std::vector<absl::Status>* why_out) {
  for (auto& [rid, call] : e.calls) {
    out->push_back(std::move(call.done));
    why_out->push_back(why);
  }
  e.calls.clear();
}

void Registry::Detach(const LinkSender* link, const std::string& id) {
  std::vector<Done> failed;
  std::vector<absl::Status> why;
  std::vector<std::pair<uint64_t, nfr::v1::PendingConnection>> gone;
  nfr::v1::FleetAgent info;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = agents_.find(id);
    if (it == agents_.end() || it->second.link.get() != link) return;
    Entry& e = it->second;
    e.link = nullptr;
    FailAll(
        e, absl::UnavailableError(absl::StrCat("agent ", id, ": link lost; retry when it is back")),
        &failed, &why);
    e.pending.clear();
    e.info.set_connected(false);
    e.info.clear_connected_since();
    Touch(e.info);
    info = e.info;
  }
  for (size_t i = 0; i < failed.size(); ++i) failed[i](why[i]);
  (void)store_->SeeAgent(info);
  LogLine(absl::StrCat("nfr-fleetd: agent ", id, " detached"));
}

void Registry::OnPending(const std::string& id, const nfr::v1::PendingEvent& ev) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end()) return;
  Entry& e = it->second;
  Touch(e.info);
  nfr::v1::PendingEvent out = ev;
  switch (ev.event_case()) {
    case nfr::v1::PendingEvent::kSnapshot:
    case nfr::v1::PendingEvent::kAdded: {
      const nfr::v1::PendingConnection& p = ev.has_snapshot() ? ev.snapshot() : ev.added();
      if (!e.pending.emplace(p.id(), p).second) return;
      *out.mutable_added() = p;  // watchers already had their snapshot
      break;
    }
    case nfr::v1::PendingEvent::kResolved:
    case nfr::v1::PendingEvent::kExpired: {
      const uint64_t pid =
          ev.has_resolved() ? ev.resolved().pending().id() : ev.expired().pending().id();
      if (e.pending.erase(pid) == 0) return;
      break;
    }
    default:
      return;
  }
  e.info.set_pending(e.pending.size());
  for (const auto& w : watchers_) {
    if (w->Wants(e.info)) w->Pending(id, out);
  }
}

uint64_t Registry::OnDecisions(const std::string& id, const nfr::v1::DecisionUpload& up) {
  std::vector<nfr::v1::Decision> batch(up.decisions().begin(), up.decisions().end());
  if (batch.empty()) return 0;
  absl::StatusOr<uint64_t> dup = store_->AddDecisions(id, batch);
  if (!dup.ok()) {
    LogLine(absl::StrCat("nfr-fleetd: agent ", id, ": storing ", batch.size(),
                         " decisions failed: ", dup.status().ToString(),
                         "; not acknowledged, the agent uploads them again"));
    return 0;
  }
  counters_.decisions_uploaded += batch.size() - *dup;
  counters_.decisions_duplicate += *dup;
  uint64_t max_id = 0;
  for (const auto& d : batch) max_id = std::max<uint64_t>(max_id, d.id());
  std::lock_guard<std::mutex> l(mu_);
  auto it = agents_.find(id);
  if (it != agents_.end()) {
    Touch(it->second.info);
    it->second.info.set_acked_decision_id(std::max(it->second.info.acked_decision_id(), max_id));
    for (const auto& w : watchers_) {
      if (!w->Wants(it->second.info)) continue;
      for (const auto& d : batch) w->Decision(id, d);
    }
  }
  return max_id;
}

void Registry::OnStatus(const std::string& id, const nfr::v1::AgentStatus& st) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end()) return;
  nfr::v1::FleetAgent& a = it->second.info;
  Touch(a);
  a.set_mode(st.mode());
  a.set_policy_version(st.policy_version());
}

void Registry::OnResponse(const std::string& id, nfr::v1::LinkResponse response) {
  Done done;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = agents_.find(id);
    if (it == agents_.end()) return;
    Touch(it->second.info);
    auto c = it->second.calls.find(response.request_id());
    if (c == it->second.calls.end()) return;  // timed out meanwhile
    done = std::move(c->second.done);
    it->second.calls.erase(c);
    if (response.has_apply_policy()) {
      it->second.info.set_policy_version(response.apply_policy().policy().version());
    }
  }
  if (response.code() != 0) {
    counters_.request_errors++;
    done(absl::Status(static_cast<absl::StatusCode>(response.code()),
                      absl::StrCat("agent ", id, ": ", response.message())));
    return;
  }
  done(std::move(response));
}

void Registry::Call(const std::string& agent_id, nfr::v1::LinkRequest request,
                    absl::Duration timeout, Done done) {
  counters_.requests++;
  std::unique_lock<std::mutex> l(mu_);
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) {
    l.unlock();
    counters_.request_errors++;
    done(absl::NotFoundError(absl::StrCat("agent ", agent_id,
                                          " is unknown to this gateway; list agents with "
                                          "nfrctl fleet ls")));
    return;
  }
  std::shared_ptr<LinkSender> link = it->second.link;
  if (link == nullptr) {
    l.unlock();
    counters_.request_errors++;
    done(absl::UnavailableError(absl::StrCat("agent ", agent_id,
                                             " is not connected (it keeps enforcing its last "
                                             "policy); retry when nfrctl fleet ls shows it")));
    return;
  }
  const uint64_t rid = next_request_++;
  request.set_request_id(rid);
  it->second.calls[rid] = InFlight{std::move(done), absl::Now() + timeout};
  nfr::v1::ControllerFrame f;
  *f.mutable_request() = std::move(request);
  if (!link->Send(std::move(f))) {
    Done d = std::move(it->second.calls[rid].done);
    it->second.calls.erase(rid);
    l.unlock();
    counters_.request_errors++;
    d(absl::UnavailableError(absl::StrCat("agent ", agent_id, ": link closing; retry")));
  }
}

void Registry::Sweep() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    wake_.wait_for(l, std::chrono::milliseconds(100));
    const absl::Time now = absl::Now();
    std::vector<std::pair<Done, std::string>> expired;
    for (auto& [id, e] : agents_) {
      for (auto c = e.calls.begin(); c != e.calls.end();) {
        if (c->second.deadline <= now) {
          expired.emplace_back(std::move(c->second.done), id);
          c = e.calls.erase(c);
        } else {
          ++c;
        }
      }
    }
    if (expired.empty()) continue;
    l.unlock();
    for (auto& [done, id] : expired) {
      counters_.request_errors++;
      done(absl::DeadlineExceededError(
          absl::StrCat("agent ", id, " did not answer in time (request_timeout_ms)")));
    }
    l.lock();
  }
}

std::vector<nfr::v1::FleetAgent> Registry::Agents() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<nfr::v1::FleetAgent> out;
  for (const auto& [id, e] : agents_) out.push_back(e.info);
  return out;
}

std::optional<nfr::v1::FleetAgent> Registry::Find(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = agents_.find(id);
  if (it == agents_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<std::pair<std::string, nfr::v1::PendingConnection>> Registry::Watch(
    std::shared_ptr<FleetWatcher> w) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::pair<std::string, nfr::v1::PendingConnection>> now;
  for (const auto& [id, e] : agents_) {
    if (!w->Wants(e.info)) continue;
    for (const auto& [pid, p] : e.pending) now.emplace_back(id, p);
  }
  watchers_.push_back(std::move(w));
  return now;
}

void Registry::Unwatch(const FleetWatcher* w) {
  std::lock_guard<std::mutex> l(mu_);
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                 [w](const auto& p) { return p.get() == w; }),
                  watchers_.end());
}

size_t Registry::connected() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto& [id, e] : agents_) n += e.link != nullptr;
  return n;
}

size_t Registry::watchers() const {
  std::lock_guard<std::mutex> l(mu_);
  return watchers_.size();
}

}  // namespace nfr
