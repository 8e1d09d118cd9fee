#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ctl/format.h"
#include "ctl/rpc_call.h"
#include "ctl/verb_flags.h"
#include "ctl/verbs.h"
#include "nfr/v1/agent_service.grpc.pb.h"
#include "nfr/v1/policy_service.grpc.pb.h"

namespace nfrctl {

using nfr::v1::AgentService;
using nfr::v1::PolicyService;

namespace {

int PrintPolicy(const Args& a, const nfr::v1::Policy& p) {
  std::cout << (JsonOutput(a) ? Json(p, true) : PolicyTable(p));
  return kExitOk;
}

// After a change: the new policy with -o json, otherwise `text`.
int PrintChange(const Args& a, const nfr::v1::Policy& p, const std::string& text) {
  if (JsonOutput(a)) return PrintPolicy(a, p);
  std::cout << text;
  return kExitOk;
}

}  // namespace

int RunStatus(const Args& a) {
  nfr::v1::AgentStatus st;
  if (int rc = CallUnary(a, "status", &AgentService::Stub::GetStatus, {}, &st)) return rc;
  std::cout << (JsonOutput(a) ? Json(st) + "\n" : StatusText(st));
  return kExitOk;
}

int RunPolicyGet(const Args& a) {
  nfr::v1::GetPolicyResponse resp;
  if (int rc = CallUnary(a, "policy get", &PolicyService::Stub::GetPolicy, {}, &resp)) return rc;
  return PrintPolicy(a, resp.policy());
}

namespace {

bool ReadText(const std::string& file, std::string* text) {
  std::stringstream ss;
  if (file == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) return false;
    ss << in.rdbuf();
  }
  *text = ss.str();
  return true;
}

}  // namespace

int RunPolicyApply(const Args& a) {
  if (!a.Has("file")) return Usage("policy apply needs -f FILE (a JSON nfr.v1.Policy; - = stdin)");
  std::string text;
  const std::string file = a.Get("file");
  if (!ReadText(file, &text)) return Usage("cannot read " + file);
  nfr::v1::ApplyPolicyRequest req;
  google::protobuf::util::JsonParseOptions jo;
  auto st = google::protobuf::util::JsonStringToMessage(text, req.mutable_policy(), jo);
  if (!st.ok()) {
    std::fprintf(stderr, "nfrctl: %s is not a JSON policy: %s\n", file.c_str(),
                 st.ToString().c_str());
    return kExitInvalid;
  }
  if (!ExpectedVersionFlag(a, &req)) return Usage("--expected-version must be a number");
  req.set_comment(a.Get("comment"));
  nfr::v1::ApplyPolicyResponse resp;
  if (int rc = CallUnary(a, "policy apply", &PolicyService::Stub::ApplyPolicy, req, &resp)) {
    return rc;
  }
  return PrintChange(a, resp.policy(),
                     absl::StrCat("applied: policy version ", resp.policy().version(), " (",
                                  resp.policy().rules_size(), " rules)\n"));
}

namespace {

// --action, --direction and --protocol of add-rule; an error message or "".
std::string RuleEnums(const Args& a, nfr::v1::Rule* r) {
  const std::string action = absl::AsciiStrToLower(a.Get("action"));
  if (action == "accept")
    r->set_action(nfr::v1::ACTION_ACCEPT);
  else if (action == "drop")
    r->set_action(nfr::v1::ACTION_DROP);
  else if (action == "ask")
    r->set_action(nfr::v1::ACTION_ASK);
  else
    return "--action must be accept, drop or ask";
  if (a.Has("direction")) {
    const std::string d = a.Get("direction");
    if (d == "ingress")
      r->set_direction(nfr::v1::DIRECTION_INGRESS);
    else if (d == "egress")
      r->set_direction(nfr::v1::DIRECTION_EGRESS);
    else if (d != "any")
      return "--direction must be ingress, egress or any";
  }
  if (a.Has("protocol")) {
    nfr::v1::Protocol p;
    if (!ParseProtocol(a.Get("protocol"), &p))
      return "--protocol must be tcp, udp, icmp, icmpv6 or any";
    r->set_protocol(p);
  }
  return "";
}

}  // namespace

int RunAddRule(const Args& a) {
  nfr::v1::AddRuleRequest req;
  nfr::v1::Rule* r = req.mutable_rule();
  if (!a.Has("id") || !a.Has("action")) return Usage("policy add-rule needs --id and --action");
  r->set_id(a.Get("id"));
  r->set_interface(a.Get("interface"));
  if (std::string err = RuleEnums(a, r); !err.empty()) return Usage(err);
  for (const std::string& p : a.GetAll("src")) r->add_src_prefixes(p);
  for (const std::string& p : a.GetAll("dst")) r->add_dst_prefixes(p);
  std::string err;
  if (!ParsePorts(a.GetAll("sport"), r->mutable_src_ports(), &err) ||
      !ParsePorts(a.GetAll("dport"), r->mutable_dst_ports(), &err)) {
    return Usage(err);
  }
  if (a.Has("ttl")) {
    absl::Duration d;
    if (!ParseDurationArg(a.Get("ttl"), &d))
      return Usage("--ttl must be a duration like 300s or 1h");
    r->set_ttl_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(d)));
  }
  r->set_comment(a.Get("comment"));
  if (a.Has("position")) {
    uint32_t pos;
    if (!absl::SimpleAtoi(a.Get("position"), &pos)) return Usage("--position must be a number");
    req.set_position(pos);
  }
  if (!ExpectedVersionFlag(a, &req)) return Usage("--expected-version must be a number");
  nfr::v1::AddRuleResponse resp;
  if (int rc = CallUnary(a, "policy add-rule", &PolicyService::Stub::AddRule, req, &resp)) {
    return rc;
  }
  return PrintChange(
      a, resp.policy(),
      absl::StrCat("added rule ", r->id(), ": policy version ", resp.policy().version(), "\n"));
}

int RunRmRule(const Args& a) {
  if (a.positional.size() != 3) return Usage("policy rm-rule needs exactly one rule ID");
  nfr::v1::RemoveRuleRequest req;
  req.set_rule_id(a.positional[2]);
  if (!ExpectedVersionFlag(a, &req)) return Usage("--expected-version must be a number");
  nfr::v1::RemoveRuleResponse resp;
  if (int rc = CallUnary(a, "policy rm-rule", &PolicyService::Stub::RemoveRule, req, &resp)) {
    return rc;
  }
  return PrintChange(a, resp.policy(),
                     absl::StrCat("removed rule ", req.rule_id(), ": policy version ",
                                  resp.policy().version(), "\n"));
}

}  // namespace nfrctl
