#include "util/fd_io.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace automate::internal {

absl::StatusOr<size_t> PreadFull(int fd, char* buf, size_t n, int64_t pos, absl::string_view what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, buf + done, n - done, pos + static_cast<int64_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::ErrnoToStatus(errno, what);
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

absl::Status WriteFullV(int fd, struct iovec* iov, int count, absl::string_view what) {
  while (count > 0) {
    ssize_t w = writev(fd, iov, std::min(count, IOV_MAX));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return absl::ErrnoToStatus(errno, what);
    auto left = static_cast<size_t>(w);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::Status WriteFull(int fd, absl::string_view data, absl::string_view what) {
  struct iovec iov = {const_cast<char*>(data.data()), data.size()};
  return WriteFullV(fd, &iov, 1, what);
}

}  // namespace automate::internal
