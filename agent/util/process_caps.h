// The calling process's effective capabilities, so errors can say which privilege is missing
// (and stop telling root to become root).
#pragma once

#include <initializer_list>
#include <string>

namespace nfr {

// Linux capability numbers (linux/capability.h), repeated so callers need no kernel header.
inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapSysAdmin = 21;
inline constexpr int kCapPerfmon = 38;
inline constexpr int kCapBpf = 39;

// Loading and attaching the tc program (CAP_BPF or, on kernels before 5.8, CAP_SYS_ADMIN).
inline constexpr std::initializer_list<int> kBpfLoadCapabilities = {kCapBpf, kCapPerfmon,
                                                                    kCapNetAdmin};

bool HasEffectiveCapability(int cap);
// "CAP_BPF, CAP_PERFMON" for the ones of caps not effective; "" when all are. CAP_SYS_ADMIN stands
// in for CAP_BPF and CAP_PERFMON, as in the kernel.
std::string MissingCapabilities(std::initializer_list<int> caps);

}  // namespace nfr
