#include "cli_output.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "automate/json.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace automate::cli {

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = MessageToJson(message);
  return json.ok() ? *json : "{}";
}

namespace {

void SetBlockStyle(YAML::Node node) {
  if (!node.IsMap() && !node.IsSequence()) return;
  node.SetStyle(YAML::EmitterStyle::Block);
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) SetBlockStyle(it->second);
  } else {
    for (auto it = node.begin(); it != node.end(); ++it) SetBlockStyle(*it);
  }
}

// JSON is YAML, so yaml-cpp reads it and writes it back in block style.
void EmitYaml(std::ostream& out, const std::string& json) {
  YAML::Node node = YAML::Load(json);
  SetBlockStyle(node);
  YAML::Emitter emitter;
  emitter << node;
  out << emitter.c_str() << "\n";
}

}  // namespace

void PrintMessages(std::ostream& out, Format format,
                   const std::vector<const google::protobuf::Message*>& messages, bool list) {
  std::string json;
  if (list) {
    json = "[";
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i > 0) json += ",";
      json += ToJson(*messages[i]);
    }
    json += "]";
  } else if (!messages.empty()) {
    json = ToJson(*messages[0]);
  }
  if (format == Format::kYaml) {
    EmitYaml(out, json);
  } else {
    out << json << "\n";
  }
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  absl::Time time = absl::FromUnixSeconds(t.seconds());
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", time, absl::LocalTimeZone());
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return "-";
  if (d < absl::Seconds(1)) return absl::StrFormat("%dms", absl::ToInt64Milliseconds(d));
  if (d < absl::Minutes(1)) return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(d));
  int64_t s = absl::ToInt64Seconds(d);
  if (d < absl::Hours(1)) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

}  // namespace automate::cli
