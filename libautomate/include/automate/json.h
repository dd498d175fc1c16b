// The proto3 JSON mapping of automate's messages, written deterministically:
// map entries in key order, so the same message always prints the same
// (the CLI's -o json/yaml and the HTTP API's bodies).
#ifndef AUTOMATE_JSON_H_
#define AUTOMATE_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "automate/export.h"
#include "google/protobuf/message.h"

namespace automate {

// lowerCamelCase field names, default values omitted. kInternal only if the
// message cannot be printed (a bug).
AUTOMATE_EXPORT absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message);

}  // namespace automate

#endif  // AUTOMATE_JSON_H_
