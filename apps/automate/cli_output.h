// Output of the automate CLI: tables for people, JSON and YAML for programs.
#ifndef AUTOMATE_APPS_AUTOMATE_CLI_OUTPUT_H_
#define AUTOMATE_APPS_AUTOMATE_CLI_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace automate::cli {

enum class Format { kTable, kJson, kYaml };

// A table with a header row; columns are padded to their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// One message in the proto3 JSON mapping (field names in lowerCamelCase).
std::string ToJson(const google::protobuf::Message& message);
// Prints messages as a JSON array / YAML sequence (`list`) or one object.
void PrintMessages(std::ostream& out, Format format,
                   const std::vector<const google::protobuf::Message*>& messages, bool list);

// "2026-11-28 10:01:02" in local time; "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& t);
// "850ms", "12.3s", "4m05s", "2h01m"; "-" when negative.
std::string HumanDuration(absl::Duration d);

}  // namespace automate::cli

#endif  // AUTOMATE_APPS_AUTOMATE_CLI_OUTPUT_H_
