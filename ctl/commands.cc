#include "ctl/commands.h"

#include "absl/strings/str_cat.h"
#include "ctl/verbs.h"

namespace nfrctl {

const std::vector<Verb>& Verbs() {
  static const auto* v = new std::vector<Verb>{
      {"status",
       "",
       "status",
       "show the agent's mode, interfaces, queues, counters and your role",
       "",
       {},
       RunStatus},
      {"policy",
       "get",
       "policy get [-o json]",
       "show the installed policy (-o json prints a file policy apply accepts)",
       "",
       {},
       RunPolicyGet},
      {"policy",
       "apply",
       "policy apply -f FILE [--expected-version N] [--comment TEXT]",
       "replace the whole policy with FILE (JSON nfr.v1.Policy; - reads stdin)",
       "  -f, --file FILE          JSON policy (protobuf JSON mapping)\n"
       "  --expected-version N     refuse (exit 6) unless the agent is at version N\n"
       "  --comment TEXT           stored with the new version\n",
       {"file", "expected-version", "comment"},
       RunPolicyApply},
      {"policy",
       "add-rule",
       "policy add-rule --id ID --action accept|drop|ask [matchers] [--position N]",
       "insert one rule (appended unless --position; 0 = first)",
       "  --id ID                  unique rule id ([A-Za-z0-9_.-], 1..64)\n"
       "  --action A               accept, drop or ask (hold for a controller)\n"
       "  --interface DEV          match one interface\n"
       "  --direction D            ingress, egress or any\n"
       "  --protocol P             tcp, udp, icmp, icmpv6 or any\n"
       "  --src CIDR[,CIDR]        source prefixes (repeatable)\n"
       "  --dst CIDR[,CIDR]        destination prefixes (repeatable)\n"
       "  --sport P[-Q][,..]       source ports (TCP/UDP)\n"
       "  --dport P[-Q][,..]       destination ports (TCP/UDP)\n"
       "  --ttl DURATION           flow-cache lifetime of the verdict\n"
       "  --comment TEXT\n"
       "  --position N             index to insert at\n"
       "  --expected-version N     refuse unless the policy is at version N\n",
       {"id", "action", "interface", "direction", "protocol", "src", "dst", "sport", "dport", "ttl",
        "comment", "position", "expected-version"},
       RunAddRule},
      {"policy",
       "rm-rule",
       "policy rm-rule ID [--expected-version N]",
       "remove one rule",
       "  --expected-version N     refuse unless the policy is at version N\n",
       {"expected-version"},
       RunRmRule},
      {"set",
       "add",
       "set add NAME VALUE... [--expected-version N] [--comment TEXT]",
       "add prefixes (CIDR) or ports (P or P-Q) to a named set of the policy",
       "  VALUE                    a prefix (10.0.0.0/8, 2001:db8::/32, 192.0.2.1) for a prefix\n"
       "                           set, or a port / range (443, 8000-8080) for a port set\n"
       "  --expected-version N     refuse (exit 6) unless the policy is at version N\n"
       "  --comment TEXT           stored with the new version\n"
       "  The set must exist (define it in the policy's \"sets\" with policy apply).\n"
       "  Each change is a new, durable policy version. -o json prints the counts.\n",
       {"expected-version", "comment"},
       RunSetAdd},
      {"set",
       "rm",
       "set rm NAME VALUE... [--expected-version N] [--comment TEXT]",
       "remove prefixes or ports from a named set",
       "  VALUE                    as for set add; values not in the set are counted, not errors\n"
       "  --expected-version N     refuse (exit 6) unless the policy is at version N\n"
       "  --comment TEXT           stored with the new version\n",
       {"expected-version", "comment"},
       RunSetRm},
      {"set",
       "list",
       "set list [NAME] [-o json]",
       "list the policy's sets (name, kind, size), or the entries of set NAME one per line",
       "  -o json                  sets: one JSON object per line; NAME: the set as JSON\n",
       {},
       RunSetList},
      {"set",
       "import",
       "set import NAME FILE [--replace] [--expected-version N] [--comment TEXT]",
       "add every prefix of FILE (- = stdin) to set NAME in one change",
       "  FILE                     one prefix per line; # starts a comment; blank lines skipped.\n"
       "                           A bad line is reported as FILE:LINE and nothing changes.\n"
       "  --replace                also remove what FILE does not list (the set becomes FILE);\n"
       "                           refused (exit 6) if the policy changed meanwhile\n"
       "  --expected-version N     refuse (exit 6) unless the policy is at version N\n"
       "  --comment TEXT           stored with the new version\n"
       "  --timeout D              deadline (default 120s here: large sets take seconds)\n"
       "  Large sets: the agent takes requests up to api.limits.max_message_bytes (80 MiB,\n"
       "  about 2M IPv4 prefixes).\n",
       {"replace", "expected-version", "comment"},
       RunSetImport},
      {"pending",
       "list",
       "pending list [--interface DEV] [--protocol P] [--prefix CIDR]",
       "list connections waiting for a decision",
       "  --interface DEV, --protocol P, --prefix CIDR (matches source or destination)\n",
       {"interface", "protocol", "prefix"},
       RunPendingList},
      {"pending",
       "watch",
       "pending watch [--interface DEV] [--protocol P] [--prefix CIDR] [--count N]",
       "follow pending connections: a live table on a terminal, one line per event otherwise",
       "  --interface DEV, --protocol P, --prefix CIDR (matches source or destination)\n"
       "  --count N                exit after N live events (after the snapshot)\n"
       "  --no-tty                 print lines even on a terminal\n"
       "  Lines: pending|added ID FLOW, snapshot N pending, resolved|expired ID VERDICT SCOPE\n"
       "  FLOW, lost N events.\n",
       {"interface", "protocol", "prefix", "count", "no-tty"},
       RunPendingWatch},
      {"pending",
       "autodecide",
       "pending autodecide accept|drop [--for DURATION] [--interface DEV] [--protocol P] "
       "[--prefix CIDR] [--count N]",
       "a scripted controller: decide every pending connection (present and future) at once",
       "  --for DURATION           cache each verdict for its flow (default: once)\n"
       "  --interface, --protocol, --prefix   only these connections\n"
       "  --count N                exit after N decisions\n"
       "  --reason TEXT            recorded in the decision log\n"
       "  Prints one line per decision. For labs, demos and latency measurements.\n"
       "  Over the agent's api.limits.changes_per_second it waits and retries.\n",
       {"for", "interface", "protocol", "prefix", "count", "reason"},
       RunAutodecide},
      {"decide",
       "",
       "decide ID accept|drop [--for DURATION | --rule [--rule-id ID]] [--reason TEXT]",
       "decide a pending connection: once (default), for this flow for DURATION, or as a new "
       "rule",
       "  --for DURATION           cache the verdict for this flow (30s, 10m, 1h)\n"
       "  --rule                   add a rule (same source host, destination host and port,\n"
       "                           interface, direction) so later connections need no question\n"
       "  --rule-id ID             id of that rule (default decided-<ID>)\n"
       "  --reason TEXT            recorded in the decision log\n",
       {"for", "rule", "rule-id", "reason"},
       RunDecide},
      {"decisions",
       "list",
       "decisions list [--since WHEN] [--until WHEN] [--verdict V] [--prefix CIDR] [--source S] "
       "[--limit N]",
       "show the decision log, newest first",
       "  --since/--until WHEN     a duration ago (30m, 2h, 7d) or an RFC 3339 time\n"
       "  --verdict accept|drop\n"
       "  --prefix CIDR            source or destination inside\n"
       "  --source S               policy, controller, timeout, overflow or operator\n"
       "  --limit N                at most N entries (default 50)\n"
       "  --page-size N            entries per request (default: up to 1000)\n",
       {"since", "until", "verdict", "prefix", "source", "limit", "page-size"},
       RunDecisionsList},
      {"decisions",
       "watch",
       "decisions watch [--verdict V] [--prefix CIDR] [--source S] [--count N]",
       "follow decisions as they are made",
       "  --verdict, --prefix, --source as for decisions list\n"
       "  --count N                exit after N decisions\n",
       {"verdict", "prefix", "source", "count"},
       RunDecisionsWatch},
      {"flows",
       "list",
       "flows list [--interface DEV] [--protocol P] [--prefix CIDR] [--verdict V] [--origin O] "
       "[--limit N]",
       "show the flows the kernel decides on its own now (the flow cache), in key order",
       "  --interface DEV, --protocol P, --prefix CIDR (matches source or destination)\n"
       "  --verdict accept|drop\n"
       "  --origin O               policy, controller, default (pending timed out) or operator\n"
       "  --limit N                at most N entries (default 100)\n"
       "  BY: the policy rule and version, or the decision-log id (nfrctl decisions list).\n"
       "  A (reply) entry lets the replies of an accepted UDP flow through.\n"
       "  Connections waiting for a decision are in nfrctl pending list.\n",
       {"interface", "protocol", "prefix", "verdict", "origin", "limit"},
       RunFlowsList},
      {"flows",
       "rm",
       "flows rm (FILTER | --all) [--limit N] [--reason TEXT]",
       "forget matching flows: the next packet of each is decided again (policy or pending)",
       "  FILTER: --interface DEV, --protocol P, --prefix CIDR, --verdict V, --origin O\n"
       "          as for flows list; --all matches every cached flow\n"
       "  --limit N                change at most N entries (default and maximum 10000)\n"
       "  --reason TEXT            recorded in the decision log (source operator)\n"
       "  Prints: N deleted of M matching. Needs the decider role.\n",
       {"interface", "protocol", "prefix", "verdict", "origin", "all", "limit", "reason"},
       RunFlowsRm},
      {"flows",
       "deny",
       "flows deny (FILTER | --all) [--limit N] [--reason TEXT]",
       "cut matching flows now: a drop entry (origin operator) for the policy's flow TTL",
       "  FILTER: --interface DEV, --protocol P, --prefix CIDR, --verdict V, --origin O\n"
       "          as for flows list; --all matches every cached flow\n"
       "  --limit N                change at most N entries (default and maximum 10000)\n"
       "  --reason TEXT            recorded in the decision log (source operator)\n"
       "  Flows already dropped are skipped; policy changes do not undo a deny; nfrctl flows rm\n"
       "  --origin operator lifts it. Prints: N denied of M matching. Needs the decider role.\n",
       {"interface", "protocol", "prefix", "verdict", "origin", "all", "limit", "reason"},
       RunFlowsDeny},
      {"fleet",
       "ls",
       "fleet ls [--selector K=V[,K=V]]",
       "list the agents a fleet gateway (nfr-fleetd) knows: connected, labels, policy, pending",
       "  --selector S             only agents whose labels match every K=V\n",
       {"selector"},
       RunFleetLs},
      {"fleet",
       "rollout",
       "fleet rollout -f FILE [--selector K=V[,K=V]] [--expected-version N] [--comment TEXT]",
       "apply one policy to every connected agent matching the selector; per-agent results",
       "  -f, --file FILE          JSON nfr.v1.Policy\n"
       "  --selector S             agents whose labels match every K=V (empty = all)\n"
       "  --expected-version N     the gateway's group policy for this selector must be at N\n"
       "                           (0 = none yet); exit 6 otherwise\n"
       "  --comment TEXT           stored with the rollout and every agent's new version\n",
       {"file", "selector", "expected-version", "comment"},
       RunFleetRollout},
      {"fleet",
       "rollouts",
       "fleet rollouts [--limit N]",
       "the gateway's rollout history, newest first",
       "",
       {"limit"},
       RunFleetRollouts},
      {"fleet",
       "watch",
       "fleet watch [--selector S] [--count N]",
       "pending connections of the whole fleet, one line per event with the agent id first",
       "  --selector S             only agents matching\n"
       "  --count N                exit after N events\n",
       {"selector", "count"},
       RunFleetWatch},
      {"fleet",
       "decisions",
       "fleet decisions AGENT [--after ID] [--limit N]",
       "decisions AGENT uploaded to the gateway (by decision id)",
       "  --after ID               only ids above ID\n"
       "  --limit N                at most N (default 1000)\n",
       {"after", "limit"},
       RunFleetDecisions},
  };
  return *v;
}

std::string GlobalHelp() {
  std::string out =
      "nfrctl — control nfr-agent: policy, sets, pending connections, decisions, flows.\n\n"
      "usage: nfrctl [global flags] NOUN VERB [args] [flags]\n\n"
      "commands:\n";
  for (const Verb& v : Verbs()) {
    out += absl::StrCat("  ", v.usage, "\n      ", v.summary, "\n");
  }
  out +=
      "\nglobal flags:\n"
      "  --target T        unix:///run/nfr/agent.sock (default) or host:port (TLS)\n"
      "  --ca FILE         CA certificate that signed the agent's server certificate\n"
      "  --cert FILE       client certificate (the agent maps it to a role)\n"
      "  --key FILE        client private key\n"
      "  --server-name N   expected server certificate name (default: the host)\n"
      "  --insecure        plaintext TCP (only against an agent started with insecure_tcp)\n"
      "  -o, --output F    table (default) or json\n"
      "  --timeout D       deadline for single requests (default 10s)\n"
      "  --agent ID        through a fleet gateway (nfr-fleetd): the agent the call is for\n"
      "  -h, --help        help; works after any noun or verb\n\n"
      "exit codes:\n"
      "  0 ok   1 usage error   2 agent unreachable / RPC failure   3 not found\n"
      "  4 permission denied    5 request refused as invalid        6 conflict (stale\n"
      "  --expected-version, id already exists)   7 over an agent limit (RESOURCE_EXHAUSTED)\n";
  return out;
}

std::string VerbHelp(const Verb& v) {
  std::string out = absl::StrCat("usage: nfrctl ", v.usage, "\n\n", v.summary, "\n");
  if (!v.details.empty()) out += "\n" + v.details;
  out +=
      "\nglobal flags: --target, --ca, --cert, --key, --insecure, -o table|json, --timeout "
      "(nfrctl --help)\n";
  return out;
}

}  // namespace nfrctl
