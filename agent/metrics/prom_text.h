// Writes the Prometheus text exposition format (version 0.0.4): one HELP and
// TYPE line per family, then its samples. Label values are escaped.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace nfr {

class PromText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  // type: "counter" or "gauge". Counter names end in _total.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, double value, const Labels& labels = {});
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

}  // namespace nfr
