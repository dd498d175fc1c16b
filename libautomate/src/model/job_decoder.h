// JobDecoder turns one YAML document of a job file into a JobSpec. It checks
// only the shape (known fields, types, units); the rules of a valid spec are
// CheckJobSpec's. It remembers the line of every field, so that the parser
// can point CheckJobSpec's errors at the file.
#ifndef AUTOMATE_MODEL_JOB_DECODER_H_
#define AUTOMATE_MODEL_JOB_DECODER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "automate/v1/job.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/map.h"
#include "model/field_error.h"
#include "yaml-cpp/yaml.h"

namespace automate::internal {

// Not thread-safe; use one per document.
class JobDecoder {
 public:
  // Decodes `doc`. Problems go to errors(); the spec holds whatever decoded.
  v1::JobSpec Decode(const YAML::Node& doc);

  // Errors found so far, each with its line.
  const std::vector<FieldError>& errors() const { return errors_; }

  // The 1-based line of `path`, or of the nearest enclosing field that has
  // one, or of the document; 0 if none is known.
  int LineOf(absl::string_view path) const;

 private:
  using Handler = std::function<void(const YAML::Node& value, const std::string& path)>;
  struct Field {
    absl::string_view name;
    Handler decode;
  };
  using StringMap = google::protobuf::Map<std::string, std::string>;

  void Error(const std::string& path, std::string message);
  void DecodeMap(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields);
  // Records the line of a map key; false (with an error) if it is unusable.
  // `data_key`: a key of labels or env, not a field name.
  bool CheckKey(const YAML::Node& key, const std::string& path, bool data_key,
                absl::flat_hash_map<std::string, int>* seen, std::string* child);

  void GetString(const YAML::Node& node, const std::string& path, std::string* out);
  void GetBool(const YAML::Node& node, const std::string& path, bool* out);
  void GetInt32(const YAML::Node& node, const std::string& path, int32_t* out);
  void GetDouble(const YAML::Node& node, const std::string& path, double* out);
  void GetDuration(const YAML::Node& node, const std::string& path,
                   google::protobuf::Duration* out);
  void GetByteSize(const YAML::Node& node, const std::string& path, int64_t* out);
  void GetStringMap(const YAML::Node& node, const std::string& path, StringMap* out);
  void GetStringList(const YAML::Node& node, const std::string& path,
                     google::protobuf::RepeatedPtrField<std::string>* out);

  void DecodeExecutor(const YAML::Node& node, const std::string& path, v1::ExecutorSpec* out);
  void DecodeLocal(const YAML::Node& node, const std::string& path, v1::LocalExecutor* out);
  // A list of strings, or one string: a shell script run by /bin/sh -c.
  void DecodeCommand(const YAML::Node& node, const std::string& path,
                     google::protobuf::RepeatedPtrField<std::string>* out);
  void DecodeDocker(const YAML::Node& node, const std::string& path, v1::DockerExecutor* out);
  void DecodeParams(const YAML::Node& node, const std::string& path, v1::JobSpec* out);
  void DecodeRetry(const YAML::Node& node, const std::string& path, v1::RetryPolicy* out);
  void DecodeConcurrency(const YAML::Node& node, const std::string& path,
                         v1::ConcurrencyPolicy* out);
  void DecodeLogLimit(const YAML::Node& node, const std::string& path, v1::LogLimit* out);

  absl::flat_hash_map<std::string, int> lines_;  // field path -> 1-based line
  std::vector<FieldError> errors_;
};

}  // namespace automate::internal

#endif  // AUTOMATE_MODEL_JOB_DECODER_H_
