// How policy decisions reach the decision log under load: one record each up to `per_second`
// (a bounded, sampled stream: the first ones of every second), beyond that only a count per
// rule. The counts are in status; one log line per interval says that records were left out.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace nfr {

inline constexpr uint32_t kDefaultPolicyRecordsPerSecond = 1000;

class DecisionSampler {
 public:
  explicit DecisionSampler(uint32_t per_second = kDefaultPolicyRecordsPerSecond,
                           absl::Duration report_interval = absl::Seconds(10))
      : per_second_(per_second), interval_(report_interval) {}

  // True when this decision gets its own record. Lock-free.
  bool Take();
  // `n` decisions of rule `rule_id` ("" = the default verdict) were only counted.
  void CountUnlogged(absl::string_view rule_id, uint64_t n);
  // Logs one line when decisions went unrecorded since the last report and the interval passed.
  void MaybeReport();

  uint64_t unlogged() const { return unlogged_.load(std::memory_order_relaxed); }
  // Since start, per rule id ("" = default verdict; "(other rules)" past kMaxRules ids).
  std::vector<std::pair<std::string, uint64_t>> UnloggedByRule() const;

 private:
  static constexpr size_t kMaxRules = 1024;
  static uint32_t NowSecond();

  const uint32_t per_second_;
  const absl::Duration interval_;
  std::atomic<uint32_t> second_{0};
  std::atomic<uint32_t> used_{0};
  std::atomic<uint64_t> unlogged_{0};
  std::atomic<int64_t> next_report_ns_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> by_rule_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> since_report_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nfr
