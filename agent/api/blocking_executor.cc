#include "agent/api/blocking_executor.h"

namespace nfr {

BlockingExecutor::BlockingExecutor(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

BlockingExecutor::~BlockingExecutor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void BlockingExecutor::Run(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(work));
  }
  wake_.notify_one();
}

void BlockingExecutor::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    wake_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    work();
    l.lock();
  }
}

}  // namespace nfr
