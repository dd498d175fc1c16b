// protobuf's own JSON printer, as automate::MessageToJson once used it:
// deterministic binary, then util::BinaryToJsonString through a TypeResolver.
// MessageToJson hands it the rare well-known types it does not print itself
// (Any, FieldMask); tests and benchmarks use it as the reference that
// MessageToJson must match byte for byte.
#ifndef AUTOMATE_UTIL_PROTOBUF_JSON_H_
#define AUTOMATE_UTIL_PROTOBUF_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace automate::internal {

// The JSON of `message`, "null" if protobuf cannot print it.
std::string ProtobufJson(const google::protobuf::Message& message);

}  // namespace automate::internal

#endif  // AUTOMATE_UTIL_PROTOBUF_JSON_H_
