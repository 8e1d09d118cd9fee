// nfrctl set add|rm|list|import: named sets changed by delta (UpdateSet).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/prefix.h"
#include "agent/policy/set_file.h"
#include "ctl/format.h"
#include "ctl/rpc_call.h"
#include "ctl/verb_flags.h"
#include "ctl/verbs.h"
#include "nfr/v1/policy_service.grpc.pb.h"

namespace nfrctl {

using nfr::v1::PolicyService;

namespace {

// PORT or FIRST-LAST (digits and one dash); anything else is taken as a prefix.
bool LooksLikePort(const std::string& v) {
  if (v.empty() || !absl::ascii_isdigit(v[0])) return false;
  for (char c : v) {
    if (!absl::ascii_isdigit(c) && c != '-') return false;
  }
  return true;
}

// VALUE... of add/rm into `req` (prefixes or ports); an error message or "".
std::string Values(const std::vector<std::string>& values, bool add,
                   nfr::v1::UpdateSetRequest* req) {
  std::vector<std::string> ports;
  for (const std::string& v : values) {
    if (LooksLikePort(v)) {
      ports.push_back(v);
    } else {
      *(add ? req->add_add() : req->add_remove()) = v;
    }
  }
  if (!ports.empty()) {
    std::string err;
    if (!ParsePorts(ports, add ? req->mutable_add_ports() : req->mutable_remove_ports(), &err)) {
      return err;
    }
  }
  return "";
}

int Update(const Args& a, const std::string& what, nfr::v1::UpdateSetRequest& req) {
  if (!ExpectedVersionFlag(a, &req)) return Usage("--expected-version must be a number");
  req.set_comment(a.Get("comment"));
  nfr::v1::UpdateSetResponse resp;
  if (int rc = CallUnary(a, what, &PolicyService::Stub::UpdateSet, req, &resp)) return rc;
  if (JsonOutput(a)) {
    std::cout << Json(resp) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrCat("set ", req.name(), ": ", resp.added(), " added (",
                            resp.already_present(), " already there), ", resp.removed(),
                            " removed (", resp.absent(), " not there), ", resp.size(),
                            " entries; policy version ", resp.version(), "\n");
  return kExitOk;
}

int AddOrRemove(const Args& a, bool add) {
  const char* verb = add ? "add" : "rm";
  if (a.positional.size() < 4) {
    return Usage(absl::StrCat("set ", verb, " needs a set NAME and at least one prefix or port"));
  }
  nfr::v1::UpdateSetRequest req;
  req.set_name(a.positional[2]);
  const std::vector<std::string> values(a.positional.begin() + 3, a.positional.end());
  if (std::string err = Values(values, add, &req); !err.empty()) return Usage(err);
  return Update(a, absl::StrCat("set ", verb), req);
}

bool GetSets(const Args& a, nfr::v1::Policy* policy, int* rc) {
  nfr::v1::GetPolicyResponse resp;
  *rc = CallUnary(a, "set list", &PolicyService::Stub::GetPolicy, {}, &resp);
  if (*rc != kExitOk) return false;
  *policy = std::move(*resp.mutable_policy());
  return true;
}

std::string PortText(const nfr::v1::PortRange& r) {
  return r.last() == 0 || r.last() == r.first() ? absl::StrCat(r.first())
                                                : absl::StrCat(r.first(), "-", r.last());
}

}  // namespace

int RunSetAdd(const Args& a) { return AddOrRemove(a, true); }
int RunSetRm(const Args& a) { return AddOrRemove(a, false); }

int RunSetList(const Args& a) {
  if (a.positional.size() > 3) return Usage("set list takes at most one set NAME");
  nfr::v1::Policy policy;
  int rc;
  if (!GetSets(a, &policy, &rc)) return rc;
  if (a.positional.size() == 3) {
    const std::string& name = a.positional[2];
    auto it = policy.sets().find(name);
    if (it == policy.sets().end()) {
      std::fprintf(stderr,
                   "nfrctl: set list: no set \"%s\" in policy version %llu; see nfrctl set list\n",
                   name.c_str(), static_cast<unsigned long long>(policy.version()));
      return kExitNotFound;
    }
    if (JsonOutput(a)) {
      std::cout << Json(it->second) << "\n";
      return kExitOk;
    }
    std::string out;
    for (const std::string& p : it->second.prefixes()) absl::StrAppend(&out, p, "\n");
    for (const nfr::v1::PortRange& r : it->second.ports()) absl::StrAppend(&out, PortText(r), "\n");
    std::cout << out;
    return kExitOk;
  }
  std::vector<std::string> names;
  for (const auto& [name, set] : policy.sets()) names.push_back(name);
  std::sort(names.begin(), names.end());
  std::vector<Row> rows;
  for (const std::string& name : names) {
    const nfr::v1::Set& s = policy.sets().at(name);
    const bool ports = !s.ports().empty();
    const std::string kind = ports ? "ports" : "prefixes";
    const int size = ports ? s.ports_size() : s.prefixes_size();
    if (JsonOutput(a)) {
      std::cout << absl::StrCat("{\"name\":\"", name, "\",\"kind\":\"", kind, "\",\"size\":", size,
                                ",\"policyVersion\":", policy.version(), "}\n");
      continue;
    }
    rows.push_back({name, kind, absl::StrCat(size), s.comment()});
  }
  if (!JsonOutput(a)) std::cout << Table({"NAME", "KIND", "SIZE", "COMMENT"}, rows);
  return kExitOk;
}

int RunSetImport(const Args& given) {
  if (given.positional.size() != 4) {
    return Usage("set import needs a set NAME and a FILE (- = stdin)");
  }
  // A million prefixes take seconds to validate, compile and store.
  Args a = given;
  if (!a.Has("timeout")) a.flags["timeout"] = {"120s"};
  const std::string& file = a.positional[3];
  std::stringstream ss;
  if (file == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) return Usage("cannot read " + file);
    ss << in.rdbuf();
  }
  absl::StatusOr<std::vector<std::string>> prefixes =
      nfr::ParseSetFile(ss.str(), file == "-" ? "stdin" : file);
  if (!prefixes.ok()) {
    std::fprintf(stderr, "nfrctl: set import: %s; nothing was changed\n",
                 std::string(prefixes.status().message()).c_str());
    return kExitInvalid;
  }
  nfr::v1::UpdateSetRequest req;
  req.set_name(a.positional[2]);
  for (std::string& p : *prefixes) req.add_add(std::move(p));
  if (a.Has("replace")) {
    // Remove what the file no longer lists, against the version read here.
    nfr::v1::Policy policy;
    int rc;
    if (!GetSets(a, &policy, &rc)) return rc;
    auto it = policy.sets().find(req.name());
    if (it != policy.sets().end()) {
      absl::flat_hash_set<nfr::Prefix> keep;
      for (const std::string& p : req.add()) keep.insert(*nfr::ParsePrefix(p));
      for (const std::string& p : it->second.prefixes()) {
        absl::StatusOr<nfr::Prefix> parsed = nfr::ParsePrefix(p);
        if (parsed.ok() && !keep.contains(*parsed)) req.add_remove(p);
      }
    }
    if (!a.Has("expected-version")) req.set_expected_version(policy.version());
  }
  return Update(a, "set import", req);
}

}  // namespace nfrctl
