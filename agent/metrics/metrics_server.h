// A minimal HTTP/1.0 endpoint for Prometheus scrapes: GET /metrics answers
// with what `render` returns; anything else is 404. One thread, one request
// per connection; off unless configured (MetricsConfig.listen).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace nfr {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  // `listen` is host:port (IPv4 or [IPv6]); INVALID_ARGUMENT naming `field`, or the bind error.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              const std::string& field,
                                                              Render render);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  void Run();
  void Serve(int fd);

  Render render_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
};

// Rewrites a textfile every `interval` until destroyed.
class TextfileWriter {
 public:
  TextfileWriter(std::string path, int interval_seconds, MetricsServer::Render render);
  ~TextfileWriter();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Writes `text` to `path` atomically (temporary file + rename), for
// node-exporter's textfile collector.
absl::Status WriteTextfile(const std::string& path, const std::string& text);

}  // namespace nfr
