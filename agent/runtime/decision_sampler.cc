#include "agent/runtime/decision_sampler.h"

#include <time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"

namespace nfr {

uint32_t DecisionSampler::NowSecond() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

bool DecisionSampler::Take() {
  const uint32_t now = NowSecond();
  uint32_t seen = second_.load(std::memory_order_relaxed);
  if (seen != now && second_.compare_exchange_strong(seen, now, std::memory_order_relaxed)) {
    used_.store(0, std::memory_order_relaxed);
  }
  // Past the budget, a load: no write to a line the other queue threads read.
  if (used_.load(std::memory_order_relaxed) >= per_second_) return false;
  return used_.fetch_add(1, std::memory_order_relaxed) < per_second_;
}

void DecisionSampler::CountUnlogged(absl::string_view rule_id, uint64_t n) {
  if (n == 0) return;
  unlogged_.fetch_add(n, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  auto it = by_rule_.find(rule_id);
  if (it == by_rule_.end()) {
    it = by_rule_.size() < kMaxRules ? by_rule_.try_emplace(std::string(rule_id), 0).first
                                     : by_rule_.try_emplace("(other rules)", 0).first;
  }
  it->second += n;
  since_report_[it->first] += n;
}

void DecisionSampler::MaybeReport() {
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t due = next_report_ns_.load(std::memory_order_relaxed);
  if (now < due || !next_report_ns_.compare_exchange_strong(
                       due, now + absl::ToInt64Nanoseconds(interval_), std::memory_order_relaxed)) {
    return;
  }
  std::vector<std::pair<std::string, uint64_t>> counts;
  {
    absl::MutexLock lock(&mu_);
    if (since_report_.empty()) return;
    counts.assign(since_report_.begin(), since_report_.end());
    since_report_.clear();
  }
  std::sort(counts.begin(), counts.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  uint64_t total = 0;
  for (const auto& c : counts) total += c.second;
  std::string top;
  for (size_t i = 0; i < counts.size() && i < 5; ++i) {
    absl::StrAppend(&top, i ? ", " : "", counts[i].first.empty() ? "default verdict" : counts[i].first,
                    " ", counts[i].second);
  }
  LogLine(absl::StrCat("nfr-agent: over ", per_second_, " policy decisions/s: ", total,
                       " counted per rule but not logged one by one (", top,
                       counts.size() > 5 ? ", ..." : "", "); see nfrctl status"));
}

std::vector<std::pair<std::string, uint64_t>> DecisionSampler::UnloggedByRule() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, uint64_t>> out(by_rule_.begin(), by_rule_.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nfr
