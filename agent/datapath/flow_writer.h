// Batch writes to nfr_flows through the syscall program bpf/nfr_flow_writer.bpf.c: the tc
// program's PENDING entries are overwritten in place instead of each taking a fresh LRU node, the
// biggest kernel cost of a new flow's decision. Optional: callers fall back to the map syscalls.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nfr_abi.h"

struct nfr_flow_writer;

namespace nfr::datapath {

class FlowWriter {
 public:
  // Loads the program against the nfr_flows map at flows_fd. Fails on kernels without sleepable
  // syscall programs (Linux < 5.14) or bpf_copy_from_user for them.
  static absl::StatusOr<std::unique_ptr<FlowWriter>> Load(int flows_fd);
  ~FlowWriter();
  FlowWriter(const FlowWriter&) = delete;
  FlowWriter& operator=(const FlowWriter&) = delete;

  // Writes entries (at most NFR_FLOW_WRITE_MAX; keys canonical, expires_ns absolute) in order.
  // Returns how many were written in place; an error if any was not written.
  absl::StatusOr<uint32_t> Write(absl::Span<const nfr_flow_write> entries) const;

 private:
  explicit FlowWriter(nfr_flow_writer* skel);
  nfr_flow_writer* skel_;
  int prog_fd_;
};

}  // namespace nfr::datapath
