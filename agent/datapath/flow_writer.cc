#include "agent/datapath/flow_writer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/datapath/bpf_program.h"
#include "nfr_flow_writer.skel.h"

namespace nfr::datapath {

absl::StatusOr<std::unique_ptr<FlowWriter>> FlowWriter::Load(int flows_fd) {
  InstallLibbpfLogger();
  nfr_flow_writer* skel = nfr_flow_writer__open();
  if (skel == nullptr) {
    return absl::InternalError(
        absl::StrCat("opening the flow writer program failed: ", strerror(errno)));
  }
  int err = bpf_map__reuse_fd(skel->maps.nfr_flows, flows_fd);
  if (err == 0) err = nfr_flow_writer__load(skel);
  if (err != 0) {
    nfr_flow_writer__destroy(skel);
    return absl::FailedPreconditionError(
        absl::StrCat("loading the flow writer program failed: ", strerror(-err)));
  }
  return std::unique_ptr<FlowWriter>(new FlowWriter(skel));
}

FlowWriter::FlowWriter(nfr_flow_writer* skel)
    : skel_(skel), prog_fd_(bpf_program__fd(skel->progs.nfr_write_flows)) {}

FlowWriter::~FlowWriter() { nfr_flow_writer__destroy(skel_); }

absl::StatusOr<uint32_t> FlowWriter::Write(absl::Span<const nfr_flow_write> entries) const {
  if (entries.size() > NFR_FLOW_WRITE_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("FlowWriter: ", entries.size(), " entries, at most ", NFR_FLOW_WRITE_MAX));
  }
  if (entries.empty()) return 0u;
  nfr_flow_write_args args = {};
  args.entries = reinterpret_cast<uintptr_t>(entries.data());
  args.count = static_cast<uint32_t>(entries.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
  if (int err = bpf_prog_test_run_opts(prog_fd_, &opts)) {
    return absl::InternalError(
        absl::StrCat("running the flow writer program failed: ", strerror(-err)));
  }
  if (opts.retval != args.count) {
    return absl::InternalError(absl::StrCat("the flow writer wrote ",
                                            static_cast<int32_t>(opts.retval), " of ", args.count,
                                            " nfr_flows entries (map update refused)"));
  }
  return args.in_place;
}

}  // namespace nfr::datapath
