// Bounded asynchronous writer for high-rate decision records: producers
// (queue threads) never block on disk; a background thread writes batches in
// one transaction each, gathering records for up to kCoalesce after a wake-up so
// producers signal it about once per kCoalesce, not once per record. When the
// buffer is full the record is dropped and counted.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "nfr/v1/flow.pb.h"

namespace nfr {

class DecisionWriter {
 public:
  static constexpr std::chrono::milliseconds kCoalesce{10};

  using WriteBatch = std::function<absl::Status(const std::vector<nfr::v1::Decision>&)>;

  DecisionWriter(size_t capacity, WriteBatch write);
  ~DecisionWriter();  // writes what is buffered, then stops

  // Never blocks on I/O. false (and counted) when the buffer is full.
  bool Enqueue(nfr::v1::Decision decision);
  // Waits until everything enqueued before the call is written.
  void Flush();

  uint64_t written() const { return written_.load(); }
  uint64_t overflow() const { return overflow_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  void Run();

  const size_t capacity_;
  WriteBatch write_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<nfr::v1::Decision> buffer_;
  uint64_t enqueued_seq_ = 0;
  uint64_t written_seq_ = 0;
  bool stop_ = false;
  bool waiting_ = false;  // the writer sleeps: an Enqueue must wake it
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> overflow_{0};
  std::atomic<uint64_t> errors_{0};
  std::thread thread_;
};

}  // namespace nfr
