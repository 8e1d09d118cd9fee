// Runs work that may block (SQLite fsync, policy compile) off gRPC's callback
// threads, which must never block: a blocked callback thread delays every
// other stream, including pending-connection watchers.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nfr {

class BlockingExecutor {
 public:
  explicit BlockingExecutor(int threads);
  ~BlockingExecutor();  // runs what is queued, then joins

  void Run(std::function<void()> work);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace nfr
