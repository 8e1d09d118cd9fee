#include "agent/datapath/ownership_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace nfr::datapath {
namespace {

std::string ReadHolderPid(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "unknown";
  std::string s(buf, n);
  return std::string(absl::StripAsciiWhitespace(s));
}

absl::Status MkdirP(const std::string& dir) {
  std::string cur;
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      cur = dir.substr(0, i);
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::PermissionDeniedError(
            absl::StrCat("cannot create ", cur, ": ", strerror(errno),
                         errno == EACCES || errno == EPERM ? "; run nfr-agent as root" : ""));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string PinDirKey(const std::string& pin_dir) {
  std::string key;
  for (char c : pin_dir) {
    if (c == '/') {
      if (!key.empty() && key.back() != '_') key.push_back('_');
    } else {
      key.push_back(c);
    }
  }
  while (!key.empty() && key.back() == '_') key.pop_back();
  return key.empty() ? "root" : key;
}

absl::StatusOr<std::unique_ptr<OwnershipLock>> OwnershipLock::Acquire(const std::string& pin_dir,
                                                                      const std::string& run_dir) {
  if (auto st = MkdirP(run_dir); !st.ok()) return st;
  std::string base = absl::StrCat(run_dir, "/datapath-", PinDirKey(pin_dir));
  std::string path = base + ".lock";
  int fd = -1;
  // The owner unlinks the file on release, so a lock taken on an already unlinked file is
  // stale: retry until the locked file is the one at path.
  for (int attempt = 0;; ++attempt) {
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open lock file ", path, ": ", strerror(errno),
                       errno == EACCES ? "; run nfr-agent as root" : ""));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      std::string holder = ReadHolderPid(fd);
      close(fd);
      if (e == EWOULDBLOCK) {
        return absl::FailedPreconditionError(absl::StrCat(
            "another nfr-agent (pid ", holder, ") owns BPF pin dir ", pin_dir, " (lock ", path,
            "); stop that agent first, or give this one its own --pin_dir"));
      }
      return absl::InternalError(absl::StrCat("flock ", path, ": ", strerror(e)));
    }
    struct stat held, now;
    if (fstat(fd, &held) == 0 && stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      break;
    }
    close(fd);
    if (attempt >= 10) {
      return absl::InternalError(absl::StrCat("lock file ", path, " keeps changing; retry"));
    }
  }
  std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != (ssize_t)pid.size()) {
    int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("writing pid to ", path, ": ", strerror(e)));
  }
  return std::unique_ptr<OwnershipLock>(new OwnershipLock(fd, path, base + ".state"));
}

OwnershipLock::~OwnershipLock() {
  // Unlink while still holding the lock; Acquire() detects a lock on an unlinked file.
  unlink(path_.c_str());
  close(fd_);
}

}  // namespace nfr::datapath
