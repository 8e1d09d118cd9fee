// Load generator for nfr-fleetd: holds N ControllerLink streams, each with its
// own agent certificate (CN = agent id), and answers the gateway's requests
// like an agent with an empty datapath (ApplyPolicy bumps a version counter).
// Driven by bench/fleet_links.py; prints "attached N" once every link is up.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nfr/v1/link.grpc.pb.h"

namespace {

using nfr::v1::AgentFrame;
using nfr::v1::ControllerFrame;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::atomic<int> attached{0};
std::atomic<int> ended{0};

class Link : public grpc::ClientBidiReactor<AgentFrame, ControllerFrame> {
 public:
  Link(nfr::v1::ControllerLink::Stub* stub, const std::string& id) {
    stub->async()->Attach(&ctx_, this);
    out_.mutable_hello()->set_version("load");
    (*out_.mutable_hello()->mutable_labels())["load"] = "1";
    (void)id;
    StartWrite(&out_);
    StartRead(&in_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (in_.has_welcome()) {
      attached++;
    } else if (in_.has_request()) {
      std::lock_guard<std::mutex> l(mu_);
      AgentFrame f;
      nfr::v1::LinkResponse* r = f.mutable_response();
      r->set_request_id(in_.request().request_id());
      if (in_.request().has_apply_policy()) {
        nfr::v1::Policy p = in_.request().apply_policy().policy();
        p.set_version(++version_);
        *r->mutable_apply_policy()->mutable_policy() = std::move(p);
      } else if (in_.request().has_get_status()) {
        r->mutable_get_status()->set_policy_version(version_);
      }
      queue_.push_back(std::move(f));
      if (!writing_) Next();
    }
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(mu_);
    writing_ = false;
    if (ok && !queue_.empty()) Next();
  }
  void OnDone(const grpc::Status& s) override {
    if (ended++ < 3) std::fprintf(stderr, "link ended: %s\n", s.error_message().c_str());
  }

 private:
  void Next() {
    out_ = std::move(queue_.front());
    queue_.erase(queue_.begin());
    writing_ = true;
    StartWrite(&out_);
  }
  grpc::ClientContext ctx_;
  AgentFrame out_;
  ControllerFrame in_;
  std::mutex mu_;
  std::vector<AgentFrame> queue_;
  bool writing_ = true;  // the Hello
  uint64_t version_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s TARGET SERVER_NAME CA CERT_DIR N\n", argv[0]);
    return 1;
  }
  const std::string target = argv[1], name = argv[2], ca = Read(argv[3]), dir = argv[4];
  const int n = std::atoi(argv[5]);
  std::vector<std::unique_ptr<nfr::v1::ControllerLink::Stub>> stubs;
  std::vector<std::unique_ptr<Link>> links;
  for (int i = 0; i < n; ++i) {
    char id[32];
    std::snprintf(id, sizeof(id), "load-%05d", i);
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ca;
    tls.pem_cert_chain = Read(dir + "/" + id + ".crt");
    tls.pem_private_key = Read(dir + "/" + id + ".key");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(name);
    args.SetInt("load.link", i);  // a channel (and connection) per link
    stubs.push_back(nfr::v1::ControllerLink::NewStub(
        grpc::CreateCustomChannel(target, grpc::SslCredentials(tls), args)));
    links.push_back(std::make_unique<Link>(stubs.back().get(), id));
  }
  while (attached.load() + ended.load() < n)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::printf("attached %d\n", attached.load());
  std::fflush(stdout);
  // Runs until killed (the driver measures, then kills it).
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
}
