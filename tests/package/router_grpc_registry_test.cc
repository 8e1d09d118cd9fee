// The router profile's gRPC core registry (agent/router/grpc_core_config.cc) still serves and
// dials what the agent and nfrctl use: a Unix socket, TCP by address and by name (native and
// dns: resolvers), and TLS. Linked with the static gRPC archives, as the router build is, and
// without gtest (a C++ shared library next to the static libstdc++). Exit status 1 on failure.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

namespace {

// Answers every call with its request.
class Echo : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { StartRead(&buf_); }
      void OnReadDone(bool ok) override {
        if (ok) {
          StartWriteAndFinish(&buf_, grpc::WriteOptions(), grpc::Status::OK);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer buf_;
    };
    return new Reactor;
  }
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

grpc::Status Call(const std::string& target, std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::GenericStub stub(grpc::CreateChannel(target, creds));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Slice payload("ping");
  grpc::ByteBuffer req(&payload, 1), resp;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/nfr.test.Echo/Call", grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> l(mu);
                   status = s;
                   done = true;
                   cv.notify_all();
                 });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  if (status.ok() && resp.Length() != 4) return grpc::Status(grpc::INTERNAL, "echo lost bytes");
  return status;
}

int failures = 0;

void Expect(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "router_grpc_registry_test: %s\n", what.c_str());
  ++failures;
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/nfr-router-grpc-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  Expect(std::system(("cd " + dir +
                      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem"
                      " -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost"
                      " >/dev/null 2>&1")
                         .c_str()) == 0,
         "openssl could not make a test certificate");
  Echo echo;
  grpc::ServerBuilder b;
  b.RegisterCallbackGenericService(&echo);
  int tcp_port = 0, tls_port = 0;
  b.AddListeningPort("unix:" + dir + "/s.sock", grpc::InsecureServerCredentials());
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &tcp_port);
  grpc::SslServerCredentialsOptions tls;
  tls.pem_key_cert_pairs.push_back({ReadFile(dir + "/k.pem"), ReadFile(dir + "/c.pem")});
  b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &tls_port);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "router_grpc_registry_test: the server did not start\n");
    return 1;
  }
  const auto insecure = grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ca;
  ca.pem_root_certs = ReadFile(dir + "/c.pem");
  const std::string tcp = std::to_string(tcp_port);
  for (const std::string& t : {"unix:" + dir + "/s.sock", "127.0.0.1:" + tcp, "localhost:" + tcp,
                               "dns:///localhost:" + tcp}) {
    grpc::Status s = Call(t, insecure);
    Expect(s.ok(), t + ": " + s.error_message());
  }
  grpc::Status s = Call("localhost:" + std::to_string(tls_port), grpc::SslCredentials(ca));
  Expect(s.ok(), "TLS: " + s.error_message());
  server->Shutdown();
  (void)std::system(("rm -rf " + dir).c_str());
  if (failures == 0) std::puts("router_grpc_registry_test: unix, tcp, dns and tls calls passed");
  return failures == 0 ? 0 : 1;
}
