// The engine's flow cache held in memory: the seam's stand-in for the BPF map
// where no kernel is involved (unit and API tests). Entries never expire.
#pragma once

#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "agent/runtime/verdict_cache.h"

namespace nfr {

class MemoryVerdictCache : public VerdictCache {
 public:
  absl::Status SetFlowVerdict(const nfr_flow_key& key, nfr_verdict verdict,
                              absl::Duration ttl) override {
    std::lock_guard<std::mutex> l(mu_);
    entries_[Bytes(key)] = {verdict, ttl};
    return absl::OkStatus();
  }
  absl::Status DeleteFlow(const nfr_flow_key& key) override {
    std::lock_guard<std::mutex> l(mu_);
    entries_.erase(Bytes(key));
    return absl::OkStatus();
  }
  std::optional<nfr_flow_value> LookupFlow(const nfr_flow_key& key) const override {
    std::optional<std::pair<nfr_verdict, absl::Duration>> e = Get(key);
    if (!e.has_value()) return std::nullopt;
    nfr_flow_value v{};
    v.verdict = e->first;
    return v;
  }
  // The verdict and TTL last written for `key`.
  std::optional<std::pair<nfr_verdict, absl::Duration>> Get(const nfr_flow_key& key) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(Bytes(key));
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static std::string Bytes(const nfr_flow_key& k) {
    return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
  }
  mutable std::mutex mu_;
  std::map<std::string, std::pair<nfr_verdict, absl::Duration>> entries_;
};

}  // namespace nfr
