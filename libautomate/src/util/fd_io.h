// Whole reads and writes on a file descriptor: short transfers and EINTR
// retried. Errors are errno statuses whose message is `what`.
#ifndef AUTOMATE_UTIL_FD_IO_H_
#define AUTOMATE_UTIL_FD_IO_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace automate::internal {

// Reads all of [pos, pos + n) unless the file ends first; returns bytes read.
absl::StatusOr<size_t> PreadFull(int fd, char* buf, size_t n, int64_t pos, absl::string_view what);

// Writes all of iov[0..count) (the iovecs are consumed as it goes).
absl::Status WriteFullV(int fd, struct iovec* iov, int count, absl::string_view what);

// Writes all of `data`.
absl::Status WriteFull(int fd, absl::string_view data, absl::string_view what);

}  // namespace automate::internal

#endif  // AUTOMATE_UTIL_FD_IO_H_
