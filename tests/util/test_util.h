// Helpers shared by the tests: temporary directories, status matchers.
#ifndef AUTOMATE_TESTS_UTIL_TEST_UTIL_H_
#define AUTOMATE_TESTS_UTIL_TEST_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace automate_testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The project's source tree (AUTOMATE_SOURCE_DIR, set by ctest).
std::string SourceDir();
// The build tree (AUTOMATE_BINARY_DIR, set by ctest).
std::string BinaryDir();

// True under CI (CI=true): tests that would skip for a missing backend fail.
bool UnderCi();

std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& content);
// The size of the file at `path`; -1 if there is none.
int64_t FileSize(const std::string& path);

}  // namespace automate_testing

#define AUTOMATE_ASSERT_OK(expr)                                   \
  do {                                                             \
    const ::absl::Status automate_s_ = ::automate_testing::ToStatus(expr); \
    ASSERT_TRUE(automate_s_.ok()) << automate_s_;                  \
  } while (0)
#define AUTOMATE_EXPECT_OK(expr)                                   \
  do {                                                             \
    const ::absl::Status automate_s_ = ::automate_testing::ToStatus(expr); \
    EXPECT_TRUE(automate_s_.ok()) << automate_s_;                  \
  } while (0)
// `lhs = value of expr`, failing the test on an error.
#define AUTOMATE_ASSERT_OK_AND_ASSIGN(lhs, expr)                   \
  AUTOMATE_ASSERT_OK_AND_ASSIGN_IMPL_(AUTOMATE_TEST_CONCAT_(so_, __LINE__), lhs, expr)
#define AUTOMATE_TEST_CONCAT_INNER_(a, b) a##b
#define AUTOMATE_TEST_CONCAT_(a, b) AUTOMATE_TEST_CONCAT_INNER_(a, b)
#define AUTOMATE_ASSERT_OK_AND_ASSIGN_IMPL_(so, lhs, expr) \
  auto so = (expr);                                        \
  ASSERT_TRUE(so.ok()) << so.status();                     \
  lhs = std::move(so).value()

namespace automate_testing {
inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Matches a Status or StatusOr with `code` whose message contains `substr`.
MATCHER_P2(StatusIs, code, substr, "") {
  absl::Status s = ::automate_testing::ToStatus(arg);
  if (s.code() != code) {
    *result_listener << "status is " << s;
    return false;
  }
  if (std::string(s.message()).find(substr) == std::string::npos) {
    *result_listener << "message is \"" << s.message() << "\"";
    return false;
  }
  return true;
}
}  // namespace automate_testing

#endif  // AUTOMATE_TESTS_UTIL_TEST_UTIL_H_
