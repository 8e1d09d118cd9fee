// nfrctl: command-line client of the nfr-agent gRPC API (NOUN VERB).
#include <cstdio>
#include <iostream>
#include <set>

#include "ctl/args.h"
#include "ctl/commands.h"

using nfrctl::Args;
using nfrctl::Verb;

namespace {

const std::set<std::string> kGlobalFlags = {"target",   "ca",     "cert",    "key",  "server-name",
                                            "insecure", "output", "timeout", "agent"};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!nfrctl::ParseArgs(argc, argv, &args, &error)) {
    std::fprintf(stderr, "nfrctl: %s (see nfrctl --help)\n", error.c_str());
    return nfrctl::kExitUsage;
  }
  const std::vector<std::string>& pos = args.positional;
  if (pos.empty()) {
    if (args.help) {
      std::cout << nfrctl::GlobalHelp();
      return nfrctl::kExitOk;
    }
    std::cerr << nfrctl::GlobalHelp();
    return nfrctl::kExitUsage;
  }
  const std::string& noun = pos[0];
  const Verb* found = nullptr;
  bool noun_known = false;
  for (const Verb& v : nfrctl::Verbs()) {
    if (v.noun != noun) continue;
    noun_known = true;
    if (v.verb.empty() || (pos.size() > 1 && pos[1] == v.verb)) {
      found = &v;
      break;
    }
  }
  if (!noun_known) {
    std::fprintf(stderr, "nfrctl: unknown command \"%s\" (see nfrctl --help)\n", noun.c_str());
    return nfrctl::kExitUsage;
  }
  if (found == nullptr) {
    std::string verbs;
    for (const Verb& v : nfrctl::Verbs()) {
      if (v.noun == noun) verbs += "  nfrctl " + v.usage + "\n      " + v.summary + "\n";
    }
    if (args.help) {
      std::cout << "usage:\n" << verbs;
      return nfrctl::kExitOk;
    }
    std::fprintf(stderr, "nfrctl: %s needs a verb%s:\n%s", noun.c_str(),
                 pos.size() > 1 ? (" (not \"" + pos[1] + "\")").c_str() : "", verbs.c_str());
    return nfrctl::kExitUsage;
  }
  if (args.help) {
    std::cout << nfrctl::VerbHelp(*found);
    return nfrctl::kExitOk;
  }
  for (const auto& [name, values] : args.flags) {
    if (kGlobalFlags.count(name)) continue;
    bool ok = false;
    for (const std::string& f : found->flags) ok |= f == name;
    if (!ok) {
      std::fprintf(stderr, "nfrctl: --%s does not apply to \"%s\" (see nfrctl %s --help)\n",
                   name.c_str(), found->usage.substr(0, found->usage.find(" [")).c_str(),
                   (found->noun + (found->verb.empty() ? "" : " " + found->verb)).c_str());
      return nfrctl::kExitUsage;
    }
  }
  const std::string out = args.Get("output", "table");
  if (out != "table" && out != "json") {
    std::fprintf(stderr, "nfrctl: -o must be table or json, not \"%s\"\n", out.c_str());
    return nfrctl::kExitUsage;
  }
  const size_t want = found->verb.empty() ? 1 : 2;
  if (found->noun == "status" && pos.size() != 1) {
    std::fprintf(stderr, "nfrctl: status takes no arguments\n");
    return nfrctl::kExitUsage;
  }
  if (!found->verb.empty() && found->verb != "rm-rule" && found->verb != "autodecide" &&
      found->noun != "set" && !(found->noun == "fleet" && found->verb == "decisions") &&
      pos.size() != want) {
    std::fprintf(stderr, "nfrctl: unexpected argument \"%s\" (see nfrctl %s %s --help)\n",
                 pos[want].c_str(), found->noun.c_str(), found->verb.c_str());
    return nfrctl::kExitUsage;
  }
  return found->run(args);
}
