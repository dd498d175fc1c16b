// Golden files: every tests/model/testdata/bad/NAME.yaml must fail to parse
// with a message containing each line of NAME.err; every file in
// tests/model/testdata/good/ and examples/jobs/ must parse and validate.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "automate/job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> FilesIn(const std::string& dir, const std::vector<std::string>& extensions) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    std::string ext = entry.path().extension().string();
    if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end())
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string TestData() { return automate_testing::SourceDir() + "/tests/model/testdata"; }

TEST(JobGoldenTest, BadFilesFailWithTheExpectedMessages) {
  std::vector<fs::path> files = FilesIn(TestData() + "/bad", {".yaml", ".json"});
  EXPECT_GE(files.size(), 25u);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    fs::path err_file = file;
    err_file.replace_extension(".err");
    ASSERT_TRUE(fs::exists(err_file)) << "missing " << err_file;
    std::string content = automate_testing::ReadFileOrDie(file.string());
    absl::StatusOr<std::vector<v1::JobSpec>> specs =
        ParseJobFile(content, file.filename().string());
    ASSERT_FALSE(specs.ok()) << "parsed, but should fail";
    EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
    std::string message(specs.status().message());
    for (absl::string_view want : absl::StrSplit(automate_testing::ReadFileOrDie(err_file.string()),
                                                 '\n', absl::SkipWhitespace())) {
      EXPECT_THAT(message, ::testing::HasSubstr(std::string(want)));
    }
  }
}

TEST(JobGoldenTest, EveryErrFileHasAJobFile) {
  for (const fs::path& err : FilesIn(TestData() + "/bad", {".err"})) {
    fs::path yaml = err, json = err;
    EXPECT_TRUE(fs::exists(yaml.replace_extension(".yaml")) ||
                fs::exists(json.replace_extension(".json")))
        << err;
  }
}

TEST(JobGoldenTest, GoodFilesAndExamplesParseAndValidate) {
  std::vector<fs::path> files = FilesIn(TestData() + "/good", {".yaml", ".json"});
  std::vector<fs::path> examples =
      FilesIn(automate_testing::SourceDir() + "/examples/jobs", {".yaml", ".yml", ".json"});
  EXPECT_GE(examples.size(), 5u);
  files.insert(files.end(), examples.begin(), examples.end());
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    absl::StatusOr<std::vector<v1::JobSpec>> specs = LoadJobFile(file.string());
    ASSERT_TRUE(specs.ok()) << specs.status();
    for (const v1::JobSpec& spec : *specs) AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  }
}

}  // namespace
}  // namespace automate
