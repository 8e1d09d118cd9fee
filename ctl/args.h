// nfrctl command line: NOUN VERB positionals plus --flags anywhere, with
// per-verb help. Flags are declared once; each verb lists the ones it takes.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace nfrctl {

enum ExitCode {
  kExitOk = 0,
  kExitUsage = 1,
  kExitRpc = 2,  // agent unreachable, deadline, internal error
  kExitNotFound = 3,
  kExitPermission = 4,
  kExitInvalid = 5,   // the agent refused the request as invalid
  kExitConflict = 6,  // stale expected version, id already exists
  kExitLimit = 7,     // over an agent limit (RESOURCE_EXHAUSTED)
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // name -> values (repeatable)
  bool help = false;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;  // also splits commas
};

// Parses argv. On error fills `error` and returns false.
bool ParseArgs(int argc, char** argv, Args* args, std::string* error);

// Names of flags taking a value; everything else is boolean.
bool FlagTakesValue(const std::string& name);

}  // namespace nfrctl
