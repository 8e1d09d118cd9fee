// Crash-recovery record next to the ownership lock: which tc hooks this agent attached, in
// which network namespace, so the next agent can remove leftovers of a SIGKILLed one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/datapath/tc_attach.h"

namespace nfr::datapath {

struct Attachment {
  int ifindex = 0;
  std::string ifname;
  TcDirection dir = TcDirection::kIngress;
};

struct RunState {
  uint64_t netns_ino = 0;
  std::vector<Attachment> attachments;
};

uint64_t CurrentNetnsIno();
// Missing/corrupt file -> empty state.
RunState ReadRunState(const std::string& path);
// Atomic replace (write temp + rename); best effort.
void WriteRunState(const std::string& path, const RunState& state);
void RemoveRunState(const std::string& path);

}  // namespace nfr::datapath
