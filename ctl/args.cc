#include "ctl/args.h"

#include <set>

#include "absl/strings/str_split.h"

namespace nfrctl {
namespace {

const std::set<std::string>& ValueFlags() {
  static const auto* s = new std::set<std::string>{"target",    "ca",          "cert",
                                                   "key",       "server-name", "output",
                                                   "timeout",   "file",        "expected-version",
                                                   "comment",   "id",          "action",
                                                   "interface", "direction",   "protocol",
                                                   "src",       "dst",         "sport",
                                                   "dport",     "ttl",         "position",
                                                   "prefix",    "for",         "reason",
                                                   "rule-id",   "since",       "until",
                                                   "verdict",   "source",      "limit",
                                                   "page-size", "count",
                                                   "origin",    "agent",       "selector",
                                                   "after"};
  return *s;
}

const std::set<std::string>& BoolFlags() {
  static const auto* s = new std::set<std::string>{"insecure", "rule", "help", "no-tty",
                                                   "all", "replace"};
  return *s;
}

}  // namespace

bool FlagTakesValue(const std::string& name) { return ValueFlags().count(name) > 0; }

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  auto it = flags.find(name);
  if (it == flags.end()) return out;
  for (const std::string& v : it->second) {
    for (absl::string_view p : absl::StrSplit(v, ',', absl::SkipEmpty())) out.emplace_back(p);
  }
  return out;
}

bool ParseArgs(int argc, char** argv, Args* args, std::string* error) {
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      args->positional.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name, value;
    bool has_value = false;
    if (a == "-h") {
      name = "help";
    } else if (a == "-o" || a == "-f") {
      name = a == "-o" ? "output" : "file";
    } else if (a.rfind("--", 0) == 0) {
      name = a.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    } else {
      *error = "unknown option " + a;
      return false;
    }
    if (name == "help") {
      args->help = true;
      continue;
    }
    if (FlagTakesValue(name)) {
      if (!has_value) {
        if (i + 1 >= argc) {
          *error = "--" + name + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      args->flags[name].push_back(value);
    } else if (BoolFlags().count(name)) {
      if (has_value) {
        *error = "--" + name + " takes no value";
        return false;
      }
      args->flags[name].push_back("true");
    } else {
      *error = "unknown option --" + name;
      return false;
    }
  }
  return true;
}

}  // namespace nfrctl
