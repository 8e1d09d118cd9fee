#include "agent/store/decision_writer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"

namespace nfr {

DecisionWriter::DecisionWriter(size_t capacity, WriteBatch write)
    : capacity_(capacity), write_(std::move(write)) {
  buffer_.reserve(capacity_);
  thread_ = std::thread([this] { Run(); });
}

DecisionWriter::~DecisionWriter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    waiting_ = false;
  }
  wake_.notify_one();
  thread_.join();
}

bool DecisionWriter::Enqueue(nfr::v1::Decision decision) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (buffer_.size() >= capacity_) {
      overflow_.fetch_add(1);
      return false;
    }
    buffer_.push_back(std::move(decision));
    ++enqueued_seq_;
    if (!waiting_) return true;
    waiting_ = false;
  }
  wake_.notify_one();
  return true;
}

void DecisionWriter::Flush() {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t target = enqueued_seq_;
  done_.wait(l, [&] { return written_seq_ >= target; });
}

void DecisionWriter::Run() {
  std::vector<nfr::v1::Decision> batch;
  batch.reserve(capacity_);
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    waiting_ = true;
    wake_.wait(l, [&] { return stop_ || !buffer_.empty(); });
    waiting_ = false;
    if (buffer_.empty() && stop_) return;
    if (!stop_ && buffer_.size() < capacity_ / 4) {
      // One transaction (and fsync) per burst rather than per record.
      l.unlock();
      std::this_thread::sleep_for(kCoalesce);
      l.lock();
    }
    batch.swap(buffer_);
    const uint64_t seq = enqueued_seq_;
    l.unlock();
    absl::Status s = write_(batch);
    if (s.ok()) {
      written_.fetch_add(batch.size());
    } else {
      errors_.fetch_add(batch.size());
      LogLine(absl::StrCat("nfr-agent: decision log: ", batch.size(),
                           " records not written: ", s.message()));
    }
    batch.clear();
    l.lock();
    written_seq_ = seq;
    done_.notify_all();
  }
}

}  // namespace nfr
