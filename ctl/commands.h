// nfrctl verbs: each takes parsed arguments and returns an exit code.
#pragma once

#include <string>
#include <vector>

#include "ctl/args.h"

namespace nfrctl {

struct Verb {
  std::string noun;
  std::string verb;   // empty for "status" and "decide"
  std::string usage;  // after "nfrctl "
  std::string summary;
  std::string details;             // flags and notes
  std::vector<std::string> flags;  // verb-specific flags accepted
  int (*run)(const Args& args);
};

const std::vector<Verb>& Verbs();

// Global help text (all verbs, global flags, exit codes).
std::string GlobalHelp();
std::string VerbHelp(const Verb& v);

}  // namespace nfrctl
