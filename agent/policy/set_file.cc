#include "agent/policy/set_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/policy_validation.h"
#include "agent/policy/prefix.h"

namespace nfr {

absl::StatusOr<std::vector<std::string>> ParseSetFile(absl::string_view contents,
                                                      absl::string_view file_name) {
  std::vector<std::string> out;
  int line_no = 0;
  while (!contents.empty()) {
    ++line_no;
    const size_t nl = contents.find('\n');
    absl::string_view line = contents.substr(0, nl);
    contents = nl == absl::string_view::npos ? absl::string_view() : contents.substr(nl + 1);
    if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    auto p = ParsePrefix(line);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_name, ":", line_no, ": ", p.status().message()));
    }
    if (out.size() >= static_cast<size_t>(kMaxSetPrefixes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_name, ":", line_no, ": more than ", kMaxSetPrefixes,
                       " prefixes, the limit of one set; split the file into several sets"));
    }
    out.push_back(p->ToString());
  }
  return out;
}

}  // namespace nfr
