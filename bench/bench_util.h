// What the benchmarks share: where their temporary state goes.
#ifndef AUTOMATE_BENCH_BENCH_UTIL_H_
#define AUTOMATE_BENCH_BENCH_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace automate_bench {

// $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp (on disk, unlike a tmpfs
// /tmp, so that fsync costs what it costs in use).
inline std::string BenchBaseDir() {
  for (const char* var : {"AUTOMATE_BENCH_DIR", "TMPDIR"}) {
    const char* value = std::getenv(var);
    if (value != nullptr && *value != '\0') return value;
  }
  return "/var/tmp";
}

// A new directory BenchBaseDir()/<prefix>.XXXXXX; aborts when it cannot be made.
inline std::string MakeBenchDir(const std::string& prefix) {
  std::string pattern = BenchBaseDir() + "/" + prefix + ".XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

// A MakeBenchDir() directory, removed with its contents on destruction
// unless AUTOMATE_BENCH_KEEP is set (to look at the database afterwards).
class StateDir {
 public:
  explicit StateDir(const std::string& prefix) : path_(MakeBenchDir(prefix)) {}
  ~StateDir() {
    if (const char* keep = std::getenv("AUTOMATE_BENCH_KEEP"); keep != nullptr && *keep != 0) {
      std::fprintf(stderr, "kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace automate_bench

#endif  // AUTOMATE_BENCH_BENCH_UTIL_H_
