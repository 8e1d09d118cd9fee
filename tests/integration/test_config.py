#!/usr/bin/env python3
"""Configuration: bad files are refused (exit 2) with a message naming the field; nothing changes."""
import copy
import json
import os

import harness
from harness import Agent, LabTestCase, rule

# (name, mutation of a valid config, regex the error must contain: the field path)
BAD = [
    ("unknown_field", lambda c: c.update(interfacez=[]), r"interfacez"),
    ("bad_enum", lambda c: c.update(mode="MODE_TURBO"), r"mode.*MODE_TURBO"),
    ("bad_prefix", lambda c: c["policy"]["rules"].append(
        rule("r1", "accept", "tcp", dst="10.77.1.300/32")),
     r"policy\.rules\[0\]\.dst_prefixes\[0\]"),
    ("rule_port_out_of_range", lambda c: c["policy"]["rules"].append(
        rule("r1", "accept", "tcp", 70000)),
     r"policy\.rules\[0\]\.dst_ports\[0\]"),
    ("duplicate_rule_id", lambda c: c["policy"]["rules"].extend(
        [rule("same", "accept", "tcp", 80), rule("same", "drop", "tcp", 81)]), r"policy\.rules\[1\]\.id"),
    ("bad_rule_id", lambda c: c["policy"]["rules"].append(
        rule("has space", "accept", "tcp", 80)), r"policy\.rules\[0\]\.id"),
    ("rule_without_action", lambda c: c["policy"]["rules"].append(
        {"id": "noaction", "protocol": "PROTOCOL_TCP"}), r"policy\.rules\[0\]\.action"),
    ("queue_num_out_of_range", lambda c: c["queue"].update(num=70000), r"queue\.num"),
    ("selection_port_out_of_range", lambda c: c.update(selection={"dstPorts": [65536]}),
     r"selection\.dst_ports\[0\]"),
    ("selection_bad_prefix", lambda c: c.update(selection={"prefixes": ["fd77::/129"]}),
     r"selection\.prefixes\[0\]"),
    ("interface_without_name", lambda c: c.update(interfaces=[{"egress": True}]),
     r"interfaces\[0\]\.name"),
]


class ConfigTest(LabTestCase):
    TCP_PORTS = ()
    UDP_PORTS = ()

    def valid(self):
        a = Agent(self.lab, self.workdir, name="valid")
        self.agents.append(a)
        return a

    def check_config(self, config_text, name):
        path = os.path.join(self.workdir, f"{name}.json")
        with open(path, "w") as f:
            f.write(config_text)
        return self.lab.run(self.lab.rtr, [harness.agent_binary(), f"--config={path}",
                                           "--check_config"], timeout=20)

    def assertNothingChanged(self, agent, what):
        self.assertFalse(agent.pin_dir.exists(), f"{what}: pin dir {agent.pin_dir} was created")
        self.assertEqual(self.lab.tc_filters(), [], f"{what}: tc filter attached")
        self.assertEqual(self.lab.compat_rules(), [], f"{what}: queue rule installed")
        self.assertFalse(os.path.exists(agent.socket), f"{what}: API socket created")

    def test_valid_config_checks_and_prints_effective_config(self):
        a = self.valid()
        r = self.check_config(json.dumps(a.config), "valid")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        effective = json.loads(r.stdout)
        text = json.dumps(effective)
        self.assertIn(str(a.pin_dir), text)
        self.assertIn(str(a.queue_num), text)
        self.assertNothingChanged(a, "--check_config")

    def test_flags_override_the_file(self):
        a = self.valid()
        a.write_config()
        r = self.lab.run(self.lab.rtr, [harness.agent_binary(), f"--config={a.config_path}",
                                        "--interfaces=r-srv:egress,r-cli", "--queue_num=4444",
                                        "--mode=native", "--pin_dir=/sys/fs/bpf/nfr-it-flag",
                                        "--check_config"])
        self.assertEqual(r.returncode, 0, r.stderr)
        eff = json.loads(r.stdout)
        ifaces = {i["name"]: i.get("egress", False) for i in eff["interfaces"]}
        self.assertEqual(ifaces, {"r-srv": True, "r-cli": False})
        self.assertEqual(eff["queue"]["num"], 4444)
        self.assertEqual(eff["mode"], "MODE_NATIVE")
        self.assertEqual(eff.get("bpf_pin_dir", eff.get("bpfPinDir")), "/sys/fs/bpf/nfr-it-flag")
        # Egress needs the native pathway: refused in compat mode, naming the field.
        r = self.lab.run(self.lab.rtr, [harness.agent_binary(), f"--config={a.config_path}",
                                        "--interfaces=r-cli:egress", "--mode=compat",
                                        "--check_config"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"interfaces\[0\]\.egress")
        r = self.lab.run(self.lab.rtr, [harness.agent_binary(), f"--config={a.config_path}",
                                        "--mode=turbo", "--check_config"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--mode", r.stderr)

    def test_print_default_config_is_valid_json(self):
        r = run = self.lab.run(self.lab.rtr, [harness.agent_binary(), "--print_default_config"])
        self.assertEqual(r.returncode, 0, run.stderr)
        cfg = json.loads(r.stdout)
        self.assertIsInstance(cfg, dict)
        self.assertIn("4200", json.dumps(cfg), "default queue number 4200 appears")

    def test_bad_configs_are_refused_naming_the_field(self):
        base = self.valid().config
        for name, mutate, field_re in BAD:
            with self.subTest(name):
                cfg = copy.deepcopy(base)
                mutate(cfg)
                r = self.check_config(json.dumps(cfg), name)
                self.assertEqual(r.returncode, 2, f"{name}: exit code\n{r.stdout}{r.stderr}")
                self.assertRegex(r.stderr, field_re, f"{name}: message names the field")

    def test_malformed_json_and_missing_file(self):
        r = self.check_config('{"interfaces": [', "truncated")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"truncated\.json", "names the file")
        missing = os.path.join(self.workdir, "does-not-exist.json")
        r = self.lab.run(self.lab.rtr, [harness.agent_binary(), f"--config={missing}",
                                        "--check_config"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("does-not-exist.json", r.stderr)

    def test_bad_config_without_check_flag_changes_nothing(self):
        a = self.valid()
        a.config["policy"]["rules"] = [rule("r1", "accept", "tcp", 70000)]
        a.start(wait=False)
        rc = a.proc.wait(20)
        self.assertEqual(rc, 2, a.log())
        self.assertRegex(a.log(), r"policy\.rules\[0\]\.dst_ports\[0\]")
        self.assertNothingChanged(a, "refused config")

    def test_unknown_interface_is_refused_and_changes_nothing(self):
        a = self.valid()
        a.config["interfaces"] = [{"name": "r-cli"}, {"name": "r-nope"}]
        a.start(wait=False)
        rc = a.proc.wait(20)
        self.assertNotEqual(rc, 0, a.log())
        self.assertIn("r-nope", a.log())
        self.assertFalse(a.pin_dir.exists() and any(a.pin_dir.iterdir()),
                         "pins left behind after a failed start")
        self.assertEqual(self.lab.tc_filters(), [], "r-cli left attached after a failed start")
        self.assertEqual(self.lab.compat_rules(), [], "queue rule left after a failed start")


if __name__ == "__main__":
    harness.main()
