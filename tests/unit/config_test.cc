#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "agent/config/config_defaults.h"
#include "agent/config/config_loader.h"
#include "agent/config/config_overrides.h"
#include "agent/config/config_validation.h"
#include "gtest/gtest.h"

namespace nfr {
namespace {

// Parses, applies defaults and validates, as nfr-agent does.
absl::StatusOr<nfr::v1::AgentConfig> Effective(const std::string& json) {
  auto c = ParseConfigJson(json, "test");
  if (!c.ok()) return c.status();
  ApplyDefaults(*c);
  if (auto s = ValidateConfig(*c); !s.ok()) return s;
  return c;
}

std::string ErrorOf(const std::string& json) {
  auto c = Effective(json);
  EXPECT_FALSE(c.ok()) << json;
  return std::string(c.status().message());
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(Config, EmbeddedDefaultIsValidAndComplete) {
  auto c = DefaultConfig();
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  EXPECT_EQ(c.interfaces_size(), 0);
  EXPECT_EQ(c.mode(), nfr::v1::MODE_AUTO);
  EXPECT_EQ(c.queue().num(), 4200u);
  EXPECT_EQ(c.queue().count(), 1u);
  EXPECT_EQ(c.queue().max_len(), 4096u);
  EXPECT_EQ(c.queue().socket_buffer_bytes(), 8u << 20);
  EXPECT_EQ(c.compat().mark(), 0x01000000u);
  EXPECT_EQ(c.selection().protocols_size(), 4);
  EXPECT_EQ(c.pending().max_flows(), 4096u);
  EXPECT_EQ(c.pending().max_packets_per_flow(), 32u);
  EXPECT_EQ(c.bpf_pin_dir(), "/sys/fs/bpf/nfr");
  EXPECT_EQ(c.api().unix_socket(), "/run/nfr/agent.sock");
  EXPECT_EQ(c.api().socket_group(), "nfr");
  EXPECT_EQ(c.store().db_path(), "/var/lib/nfr/state.db");
  EXPECT_EQ(c.store().max_decisions(), 100000u);
  EXPECT_EQ(c.store().max_decision_age_days(), 30u);
  EXPECT_EQ(c.flow_cache().max_entries(), 65536u);
  EXPECT_EQ(c.new_flow_budget().rate_per_second(), 1000u);
  EXPECT_EQ(c.new_flow_budget().burst(), 2000u);
  EXPECT_EQ(c.decision_log().records_per_second(), 1000u);
  EXPECT_EQ(c.policy().default_verdict(), nfr::v1::VERDICT_DROP);
  EXPECT_EQ(c.policy().pending_timeout_ms(), 5000u);
  EXPECT_EQ(c.policy().flow_ttl_seconds(), 300u);
  ASSERT_GE(c.policy().rules_size(), 4);
  EXPECT_EQ(c.policy().rules(c.policy().rules_size() - 1).action(), nfr::v1::ACTION_ASK);
}

TEST(Config, PrintedConfigParsesBackIdentically) {
  auto c = DefaultConfig();
  auto again = ParseConfigJson(ConfigToJson(c), "printed");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->DebugString(), c.DebugString());
}

TEST(Config, ExplicitZeroQueueNumAndMarkAreKept) {
  auto c = Effective(R"({"queue": {"num": 0}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->queue().num(), 0u);
  EXPECT_EQ(ErrorOf(R"({"compat": {"mark": 0}})"),
            "compat.mark: 0 cannot mark packets; use a nonzero bit, e.g. 16777216 (0x01000000)");
}

TEST(Config, FlowCacheSizeAndNewFlowBudget) {
  auto off = Effective(R"({"new_flow_budget": {"rate_per_second": 0}})");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->new_flow_budget().rate_per_second(), 0u) << "explicit 0 turns the budget off";
  auto set = Effective(R"({"flow_cache": {"max_entries": 1048576},
                           "new_flow_budget": {"rate_per_second": 50}})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->flow_cache().max_entries(), 1048576u);
  EXPECT_EQ(set->new_flow_budget().burst(), 100u);
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"flow_cache": {"max_entries": 5000000}})"),
                         "flow_cache.max_entries: 5000000 is out of range; use 1..4194304"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"new_flow_budget": {"rate_per_second": 2000000}})"),
                         "new_flow_budget.rate_per_second: 2000000 is out of range"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"new_flow_budget": {"burst": 2000000}})"),
                         "new_flow_budget.burst: 2000000 is out of range"));
}

TEST(Config, DecisionRecordBudget) {
  auto off = Effective(R"({"decision_log": {"records_per_second": 0}})");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->decision_log().records_per_second(), 0u) << "explicit 0 records none";
  auto set = Effective(R"({"decision_log": {"records_per_second": 100000}})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->decision_log().records_per_second(), 100000u);
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"decision_log": {"records_per_second": 100001}})"),
                         "decision_log.records_per_second: 100001 is out of range; use 0 "
                         "(counts only)..100000"));
}

TEST(Config, FileWithoutPolicyGetsTheExamplePolicy) {
  auto c = Effective(R"({"interfaces": [{"name": "r-cli"}], "mode": "MODE_COMPAT"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->policy().rules_size(), DefaultConfig().policy().rules_size());
  EXPECT_EQ(c->interfaces(0).name(), "r-cli");
}

TEST(Config, ParseErrorsNameTheProblem) {
  auto unknown = ParseConfigJson(R"({"queue": {"nmu": 1}})", "config file /x.json");
  ASSERT_FALSE(unknown.ok());
  const std::string msg(unknown.status().message());
  EXPECT_TRUE(StartsWith(msg, "config file /x.json: not a valid nfr.v1.AgentConfig: ")) << msg;
  EXPECT_NE(msg.find("nmu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("proto/nfr/v1/config.proto"), std::string::npos) << msg;
  EXPECT_FALSE(ParseConfigJson(R"({"mode": "MODE_FAST"})", "t").ok());
  EXPECT_FALSE(ParseConfigJson("{", "t").ok());
}

TEST(Config, ValidationErrorsNameFieldAndFix) {
  EXPECT_EQ(ErrorOf(R"({"queue": {"num": 65535, "count": 2}})"),
            "queue.count: queues 65535..65536 pass 65535; lower queue.num or queue.count");
  EXPECT_TRUE(Effective(R"({"queue": {"num": 65535, "count": 1}})").ok());
  EXPECT_EQ(
      ErrorOf(R"({"queue": {"failClosed": true, "overflow": "QUEUE_OVERFLOW_ACCEPT"}})"),
      "queue.fail_closed: contradicts queue.overflow QUEUE_OVERFLOW_ACCEPT; drop one of them");
  EXPECT_TRUE(Effective(R"({"queue": {"overflow": "QUEUE_OVERFLOW_DROP"}})").ok());
  EXPECT_EQ(ErrorOf(R"({"interfaces": [{"name": "a"}, {"name": "a"}]})"),
            "interfaces[1].name: \"a\" is listed twice; list it once (set egress there to inspect "
            "both directions)");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"interfaces": [{"name": "a/b"}]})"), "interfaces[0].name: "));
  EXPECT_TRUE(StartsWith(
      ErrorOf(R"({"mode": "MODE_COMPAT", "interfaces": [{"name": "a", "egress": true}]})"),
      "interfaces[0].egress: "));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"selection": {"prefixes": ["10.0.0.0/40"]}})"),
                         "selection.prefixes[0]: \"10.0.0.0/40\" is not a CIDR prefix"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"selection": {"dst_ports": [70000]}})"),
                         "selection.dst_ports[0]: 70000 is not a port"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"selection": {"protocols": ["PROTOCOL_ANY"]}})"),
                         "selection.protocols[0]: PROTOCOL_ANY cannot be selected"));
  EXPECT_EQ(ErrorOf(R"({"policy": {"rules": [{"id": "x", "action": "ACTION_ACCEPT",
                    "dst_prefixes": ["10.0.0.0/33"]}], "default_verdict": "VERDICT_DROP"}})"),
            "policy.rules[0].dst_prefixes[0]: \"10.0.0.0/33\" is not a CIDR prefix; use ADDR/LEN "
            "with LEN <= 32");
  EXPECT_EQ(ErrorOf(R"({"policy": {}})"),
            "policy.default_verdict: not set; use VERDICT_ACCEPT or VERDICT_DROP");
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"pending": {"max_packets_per_flow": 5000}})"),
                         "pending.max_packets_per_flow: 5000 is out of range"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"bpf_pin_dir": "relative/dir"})"), "bpf_pin_dir: "));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"api": {"tcp_listen": "0.0.0.0:7400"}})"),
                         "api.tls.cert_file: not set, and TCP requires mTLS"));
  EXPECT_TRUE(Effective(R"({"api": {"tcp_listen": "0.0.0.0:7400", "insecure_tcp": true}})").ok());
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"api": {"tcp_listen": "7400", "insecure_tcp": true}})"),
                         "api.tcp_listen: \"7400\" is not HOST:PORT"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"queue": {"socket_buffer_bytes": 1000}})"),
                         "queue.socket_buffer_bytes: 1000 is out of range"));
}

TEST(Config, FlagOverrides) {
  auto c = DefaultConfig();
  ConfigOverrides o;
  o.interfaces = "r-cli, eth1:egress";
  o.mode = "compat";
  o.pin_dir = "/sys/fs/bpf/test";
  o.api_socket = "/tmp/a.sock";
  o.db = "/tmp/s.db";
  o.queue_num = 4300;
  ASSERT_TRUE(ApplyOverrides(o, c).ok());
  ASSERT_EQ(c.interfaces_size(), 2);
  EXPECT_EQ(c.interfaces(0).name(), "r-cli");
  EXPECT_FALSE(c.interfaces(0).egress());
  EXPECT_EQ(c.interfaces(1).name(), "eth1");
  EXPECT_TRUE(c.interfaces(1).egress());
  EXPECT_EQ(c.mode(), nfr::v1::MODE_COMPAT);
  EXPECT_EQ(c.bpf_pin_dir(), "/sys/fs/bpf/test");
  EXPECT_EQ(c.api().unix_socket(), "/tmp/a.sock");
  EXPECT_EQ(c.store().db_path(), "/tmp/s.db");
  EXPECT_EQ(c.queue().num(), 4300u);
  // compat + egress is refused by validation, naming the field.
  EXPECT_TRUE(StartsWith(std::string(ValidateConfig(c).message()), "interfaces[1].egress"));

  ConfigOverrides bad_mode;
  bad_mode.mode = "fast";
  EXPECT_EQ(ApplyOverrides(bad_mode, c).message(),
            "--mode: \"fast\" is not a mode; use auto, native or compat");
  ConfigOverrides bad_if;
  bad_if.interfaces = "eth0:ingress";
  EXPECT_TRUE(StartsWith(std::string(ApplyOverrides(bad_if, c).message()), "--interfaces: "));
}

TEST(Config, LoadFile) {
  char path[] = "/tmp/nfr-config-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << R"({"interfaces": [{"name": "r-cli"}], "queue": {"num": 4300}})";
  }
  auto c = LoadConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->queue().num(), 4300u);
  std::remove(path);
  auto missing = LoadConfigFile(path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find(path), std::string::npos);
}

TEST(Config, ApiLimitsHaveDefaultsAndConsistentValues) {
  auto c = Effective(R"({"api": {"limits": {"maxStreams": 10}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->api().limits().max_message_bytes(), 80u << 20);
  EXPECT_EQ(c->api().limits().max_policy_bytes(), 64u << 20);
  EXPECT_EQ(c->api().limits().max_streams(), 10u);
  EXPECT_EQ(c->api().limits().max_streams_per_peer(), 10u);  // the default, 16, is over max_streams
  EXPECT_EQ(c->api().limits().changes_burst(), 400u);
  EXPECT_TRUE(
      StartsWith(ErrorOf(R"({"api": {"limits": {"maxStreams": 4, "maxStreamsPerPeer": 5}}})"),
                 "api.limits.max_streams_per_peer"));
  EXPECT_TRUE(StartsWith(ErrorOf(R"({"api": {"limits": {"maxPolicyBytes": 100000000}}})"),
                         "api.limits.max_policy_bytes"));
}

}  // namespace
}  // namespace nfr
