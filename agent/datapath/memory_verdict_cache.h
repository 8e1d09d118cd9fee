// The engine's flow cache held in memory: the seam's stand-in for the BPF map
// where no kernel is involved (unit and API tests). Entries never expire
// (expires_ns is filled in as FlowCache does, for listings).
#pragma once

#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/datapath/flow_cache.h"
#include "agent/datapath/verdict_cache.h"

namespace nfr {

class MemoryVerdictCache : public VerdictCache {
 public:
  absl::Status SetFlow(const nfr_flow_key& key, const nfr_flow_value& value,
                       absl::Duration ttl) override {
    std::lock_guard<std::mutex> l(mu_);
    nfr_flow_value v = value;
    v.expires_ns = datapath::ExpiryFromTtl(ttl);
    entries_[Bytes(key)] = {v, ttl};
    return absl::OkStatus();
  }
  absl::Status DeleteFlow(const nfr_flow_key& key) override {
    std::lock_guard<std::mutex> l(mu_);
    entries_.erase(Bytes(key));
    return absl::OkStatus();
  }
  std::optional<nfr_flow_value> LookupFlow(const nfr_flow_key& key) const override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(Bytes(key));
    if (it == entries_.end()) return std::nullopt;
    return it->second.first;
  }
  absl::Status DumpFlows(FlowChunkFn fn) const override {
    std::vector<nfr_flow_key> keys;
    std::vector<nfr_flow_value> values;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [k, e] : entries_) {
        nfr_flow_key key;
        std::memcpy(&key, k.data(), sizeof(key));
        keys.push_back(key);
        values.push_back(e.first);
      }
    }
    fn(keys, values);
    return absl::OkStatus();
  }
  absl::Status UpdateFlows(absl::Span<const nfr_flow_key> keys,
                           absl::Span<const nfr_flow_value> values) override {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = 0; i < keys.size(); ++i) entries_[Bytes(keys[i])].first = values[i];
    return absl::OkStatus();
  }
  absl::Status DeleteFlows(absl::Span<const nfr_flow_key> keys) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& k : keys) entries_.erase(Bytes(k));
    return absl::OkStatus();
  }
  // The verdict and TTL last written for `key`.
  std::optional<std::pair<nfr_verdict, absl::Duration>> Get(const nfr_flow_key& key) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(Bytes(key));
    if (it == entries_.end()) return std::nullopt;
    return std::make_pair(static_cast<nfr_verdict>(it->second.first.verdict), it->second.second);
  }

 private:
  static std::string Bytes(const nfr_flow_key& k) {
    return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
  }
  mutable std::mutex mu_;
  std::map<std::string, std::pair<nfr_flow_value, absl::Duration>> entries_;
};

}  // namespace nfr
