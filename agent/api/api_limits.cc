#include "agent/api/api_limits.h"

#include <malloc.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace nfr {

absl::StatusOr<std::unique_ptr<StreamGate::Slot>> StreamGate::Acquire(const std::string& peer,
                                                                      absl::string_view method) {
  std::lock_guard<std::mutex> l(mu_);
  uint32_t& mine = per_peer_[peer];
  if (total_ >= max_total_ || mine >= max_per_peer_) {
    const bool global = total_ >= max_total_;
    if (mine == 0) per_peer_.erase(peer);
    refused_.fetch_add(1);
    return absl::ResourceExhaustedError(
        absl::StrCat(method, ": ", global ? total_ : mine, " watch streams are open",
                     global ? "" : absl::StrCat(" for ", peer), ", the limit api.limits.",
                     global ? "max_streams" : "max_streams_per_peer", " (",
                     global ? max_total_ : max_per_peer_, "); close a stream or raise the limit"));
  }
  ++mine;
  ++total_;
  return std::make_unique<Slot>(this, peer);
}

uint64_t StreamGate::open() const {
  std::lock_guard<std::mutex> l(mu_);
  return total_;
}

void StreamGate::Release(const std::string& peer) {
  {
    std::lock_guard<std::mutex> l(mu_);
    --total_;
    auto it = per_peer_.find(peer);
    if (it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
  }
  if (trimmer_ != nullptr) trimmer_->Request();
}

MemoryTrimmer::MemoryTrimmer(absl::Duration period) : period_(period) {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      cv_.wait_for(l, absl::ToChronoMilliseconds(period_), [this] { return stop_; });
      if (stop_) break;
      if (wanted_.exchange(false)) {
        l.unlock();
        malloc_trim(0);
        l.lock();
      }
    }
  });
}

MemoryTrimmer::~MemoryTrimmer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

absl::Status CallRate::Take(const std::string& peer, absl::string_view method) {
  const absl::Time now = absl::Now();
  std::lock_guard<std::mutex> l(mu_);
  if (buckets_.size() > 4096) {  // forget callers whose bucket is full again
    absl::erase_if(buckets_, [&](const auto& kv) {
      return kv.second.tokens + absl::ToDoubleSeconds(now - kv.second.last) * per_second_ >= burst_;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(peer, Bucket{static_cast<double>(burst_), now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens =
        std::min<double>(burst_, b.tokens + absl::ToDoubleSeconds(now - b.last) * per_second_);
    b.last = now;
  }
  if (b.tokens < 1) {
    limited_.fetch_add(1);
    return absl::ResourceExhaustedError(
        absl::StrCat(method, ": caller ", peer, " is over api.limits.changes_per_second (",
                     per_second_, "/s, burst ", burst_, "); slow down and retry"));
  }
  b.tokens -= 1;
  return absl::OkStatus();
}

std::string BoundErrorMessage(absl::string_view message) {
  constexpr size_t kKeep = 64, kMaxTotal = 1024;
  std::string out;
  out.reserve(std::min(message.size(), kMaxTotal + 32));
  size_t i = 0;
  while (i < message.size()) {
    const bool blank = message[i] == ' ';
    size_t j = i;
    while (j < message.size() && (message[j] == ' ') == blank) ++j;
    absl::string_view run = message.substr(i, j - i);
    if (!blank && run.size() > kMaxEchoBytes) {
      absl::StrAppend(&out, run.substr(0, kKeep), "…[", run.size(), " bytes]");
    } else {
      out.append(run.data(), run.size());
    }
    i = j;
  }
  if (out.size() > kMaxTotal) {
    out.resize(kMaxTotal);
    out += "…";
  }
  return out;
}

}  // namespace nfr
