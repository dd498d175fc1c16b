#include "automate/json.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "util/protobuf_json.h"

namespace automate {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Writes the proto3 JSON mapping straight from reflection, byte for byte as
// protobuf's own printer does (util::MessageToJsonString), which instead
// serializes to binary and re-parses it through a TypeResolver: several
// times slower, and the API prints a message per response. json_test.cc
// compares the two on every message type and every kind of value.
class JsonPrinter {
 public:
  explicit JsonPrinter(std::string* out) : out_(*out) {}

  void PrintMessage(const Message& message) {
    const Descriptor* type = message.GetDescriptor();
    if (type->file()->package() == "google.protobuf") {
      return PrintWellKnown(message);
    }
    const Reflection* reflection = message.GetReflection();
    std::vector<const FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);  // Set fields, by number.
    out_.push_back('{');
    bool first = true;
    for (const FieldDescriptor* field : fields) {
      if (field->is_extension()) continue;
      if (!first) out_.push_back(',');
      first = false;
      PrintString(field->json_name());
      out_.push_back(':');
      if (field->is_map()) {
        PrintMap(message, field);
      } else if (field->is_repeated()) {
        out_.push_back('[');
        int size = reflection->FieldSize(message, field);
        for (int i = 0; i < size; ++i) {
          if (i > 0) out_.push_back(',');
          PrintValue(message, field, i);
        }
        out_.push_back(']');
      } else {
        PrintValue(message, field, -1);
      }
    }
    out_.push_back('}');
  }

 private:
  // One value of `field`: element `index` of a repeated field, or the
  // singular value when index < 0.
  void PrintValue(const Message& message, const FieldDescriptor* field, int index) {
    const Reflection* r = message.GetReflection();
    const bool rep = index >= 0;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        absl::StrAppend(&out_, rep ? r->GetRepeatedInt32(message, field, index)
                                   : r->GetInt32(message, field));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        absl::StrAppend(&out_, rep ? r->GetRepeatedUInt32(message, field, index)
                                   : r->GetUInt32(message, field));
        break;
      case FieldDescriptor::CPPTYPE_INT64:  // 64-bit integers are strings.
        absl::StrAppend(&out_, "\"", rep ? r->GetRepeatedInt64(message, field, index)
                                         : r->GetInt64(message, field), "\"");
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        absl::StrAppend(&out_, "\"", rep ? r->GetRepeatedUInt64(message, field, index)
                                         : r->GetUInt64(message, field), "\"");
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        PrintDouble(rep ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field),
                    /*single=*/false);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        PrintDouble(rep ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field),
                    /*single=*/true);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        out_ += (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                    ? "true"
                    : "false";
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        int number = rep ? r->GetRepeatedEnumValue(message, field, index)
                         : r->GetEnumValue(message, field);
        const auto* value = field->enum_type()->FindValueByNumber(number);
        if (value != nullptr) {
          PrintString(value->name());
        } else {
          absl::StrAppend(&out_, number);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& value =
            rep ? r->GetRepeatedStringReference(message, field, index, &scratch)
                : r->GetStringReference(message, field, &scratch);
        if (field->type() == FieldDescriptor::TYPE_BYTES) {
          absl::StrAppend(&out_, "\"", absl::Base64Escape(value), "\"");
        } else {
          PrintString(value);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        PrintMessage(rep ? r->GetRepeatedMessage(message, field, index)
                         : r->GetMessage(message, field));
        break;
    }
  }

  // A map as an object, entries in key order (as deterministic serialization
  // sorts them; keys are strings in JSON, their order is the key type's).
  void PrintMap(const Message& message, const FieldDescriptor* field) {
    const Reflection* r = message.GetReflection();
    const FieldDescriptor* key = field->message_type()->map_key();
    const FieldDescriptor* value = field->message_type()->map_value();
    int size = r->FieldSize(message, field);
    std::vector<const Message*> entries;
    entries.reserve(size);
    for (int i = 0; i < size; ++i) entries.push_back(&r->GetRepeatedMessage(message, field, i));
    std::stable_sort(entries.begin(), entries.end(), [key](const Message* a, const Message* b) {
      return KeyLess(*a, *b, key);
    });
    out_.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_.push_back(',');
      const Message& entry = *entries[i];
      const Reflection* er = entry.GetReflection();
      switch (key->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING:
          PrintString(er->GetString(entry, key));
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          out_ += er->GetBool(entry, key) ? "\"true\"" : "\"false\"";
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          absl::StrAppend(&out_, "\"", er->GetInt32(entry, key), "\"");
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          absl::StrAppend(&out_, "\"", er->GetUInt32(entry, key), "\"");
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          absl::StrAppend(&out_, "\"", er->GetInt64(entry, key), "\"");
          break;
        default:
          absl::StrAppend(&out_, "\"", er->GetUInt64(entry, key), "\"");
          break;
      }
      out_.push_back(':');
      PrintValue(entry, value, -1);
    }
    out_.push_back('}');
  }

  static bool KeyLess(const Message& a, const Message& b, const FieldDescriptor* key) {
    const Reflection* r = a.GetReflection();
    switch (key->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        return r->GetString(a, key) < r->GetString(b, key);
      case FieldDescriptor::CPPTYPE_BOOL:
        return r->GetBool(a, key) < r->GetBool(b, key);
      case FieldDescriptor::CPPTYPE_INT32:
        return r->GetInt32(a, key) < r->GetInt32(b, key);
      case FieldDescriptor::CPPTYPE_UINT32:
        return r->GetUInt32(a, key) < r->GetUInt32(b, key);
      case FieldDescriptor::CPPTYPE_INT64:
        return r->GetInt64(a, key) < r->GetInt64(b, key);
      default:
        return r->GetUInt64(a, key) < r->GetUInt64(b, key);
    }
  }

  // The well-known types have JSON forms of their own.
  void PrintWellKnown(const Message& message) {
    const Descriptor* type = message.GetDescriptor();
    const std::string& name = type->name();
    const Reflection* r = message.GetReflection();
    if (name == "Timestamp") return PrintTimestamp(message);
    if (name == "Duration") return PrintDuration(message);
    if (name == "Struct") {  // map<string, Value> fields = 1: an object.
      return PrintMap(message, type->FindFieldByNumber(1));
    }
    if (name == "ListValue") {  // repeated Value values = 1: an array.
      const FieldDescriptor* values = type->FindFieldByNumber(1);
      out_.push_back('[');
      for (int i = 0; i < r->FieldSize(message, values); ++i) {
        if (i > 0) out_.push_back(',');
        PrintMessage(r->GetRepeatedMessage(message, values, i));
      }
      out_.push_back(']');
      return;
    }
    if (name == "Value") {  // oneof kind: whichever is set; none is null.
      const FieldDescriptor* kind =
          r->GetOneofFieldDescriptor(message, type->FindOneofByName("kind"));
      if (kind == nullptr || kind->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
        out_ += "null";
      } else {
        PrintValue(message, kind, -1);
      }
      return;
    }
    if (absl::EndsWith(name, "Value") && type->field_count() == 1) {
      // The wrappers (Int64Value, StringValue, ...): their value alone.
      return PrintValue(message, type->field(0), -1);
    }
    if (name == "Empty") {
      out_ += "{}";
      return;
    }
    // Any, FieldMask: rare here, so protobuf's own printer does them.
    out_ += internal::ProtobufJson(message);
  }

  // The shortest of %.15g / %.17g (%.6g / %.9g for float) that reads back
  // as the same value, as protobuf's SimpleDtoa/SimpleFtoa; non-finite
  // values are strings.
  void PrintDouble(double value, bool single) {
    if (std::isnan(value)) {
      out_ += "\"NaN\"";
      return;
    }
    if (std::isinf(value)) {
      out_ += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      return;
    }
    char buffer[32];
    if (single) {
      float f = static_cast<float>(value);
      std::snprintf(buffer, sizeof(buffer), "%.*g", 6, static_cast<double>(f));
      if (std::strtof(buffer, nullptr) != f) {
        std::snprintf(buffer, sizeof(buffer), "%.*g", 9, static_cast<double>(f));
      }
    } else {
      std::snprintf(buffer, sizeof(buffer), "%.*g", 15, value);
      if (std::strtod(buffer, nullptr) != value) {
        std::snprintf(buffer, sizeof(buffer), "%.*g", 17, value);
      }
    }
    out_ += buffer;
  }

  // RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits.
  void PrintTimestamp(const Message& message) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    int64_t seconds = r->GetInt64(message, type->FindFieldByNumber(1));
    int32_t nanos = r->GetInt32(message, type->FindFieldByNumber(2));
    absl::Time t = absl::FromUnixSeconds(seconds);
    out_.push_back('"');
    out_ += absl::FormatTime("%Y-%m-%dT%H:%M:%S", t, absl::UTCTimeZone());
    AppendNanos(nanos);
    out_ += "Z\"";
  }

  // Seconds with 0, 3, 6 or 9 fractional digits and an "s".
  void PrintDuration(const Message& message) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    int64_t seconds = r->GetInt64(message, type->FindFieldByNumber(1));
    int32_t nanos = r->GetInt32(message, type->FindFieldByNumber(2));
    out_.push_back('"');
    if (seconds < 0 || nanos < 0) {
      out_.push_back('-');
      seconds = -seconds;
      nanos = -nanos;
    }
    absl::StrAppend(&out_, seconds);
    AppendNanos(nanos);
    out_ += "s\"";
  }

  void AppendNanos(int32_t nanos) {
    if (nanos == 0) return;
    char buffer[16];
    if (nanos % 1000000 == 0) {
      std::snprintf(buffer, sizeof(buffer), ".%03d", nanos / 1000000);
    } else if (nanos % 1000 == 0) {
      std::snprintf(buffer, sizeof(buffer), ".%06d", nanos / 1000);
    } else {
      std::snprintf(buffer, sizeof(buffer), ".%09d", nanos);
    }
    out_ += buffer;
  }

  // A JSON string with protobuf's escaping: quotes, backslashes, control
  // characters, '<' and '>', DEL, and the invisible or line-breaking code
  // points in EscapedCodePoint() as \uXXXX (surrogate pairs above the BMP).
  // Bytes that are not UTF-8 become U+FFFD.
  void PrintString(absl::string_view s) {
    out_.push_back('"');
    size_t i = 0;
    while (i < s.size()) {
      // Runs of printable ASCII that need no escape go out in one append.
      size_t run = i;
      while (run < s.size() && kPlain[static_cast<unsigned char>(s[run])]) ++run;
      if (run > i) {
        out_.append(s.data() + i, run - i);
        i = run;
        if (i == s.size()) break;
      }
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        AppendAscii(c);
        ++i;
        continue;
      }
      uint32_t code = 0;
      size_t len = DecodeUtf8(s.substr(i), &code);
      if (len == 0) {
        out_ += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
        continue;
      }
      if (EscapedCodePoint(code)) {
        AppendEscapedCodePoint(code);
      } else {
        out_.append(s.data() + i, len);
      }
      i += len;
    }
    out_.push_back('"');
  }

  void AppendAscii(unsigned char c) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        return;
      case '\\':
        out_ += "\\\\";
        return;
      case '\b':
        out_ += "\\b";
        return;
      case '\f':
        out_ += "\\f";
        return;
      case '\n':
        out_ += "\\n";
        return;
      case '\r':
        out_ += "\\r";
        return;
      case '\t':
        out_ += "\\t";
        return;
      default:
        break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == 0x7f) {
      AppendUnit(c);
    } else {
      out_.push_back(static_cast<char>(c));
    }
  }

  void AppendUnit(uint32_t unit) {
    char buffer[8];
    std::snprintf(buffer, sizeof(buffer), "\\u%04x", unit);
    out_ += buffer;
  }

  void AppendEscapedCodePoint(uint32_t code) {
    if (code < 0x10000) {
      AppendUnit(code);
      return;
    }
    code -= 0x10000;
    AppendUnit(0xD800 + (code >> 10));
    AppendUnit(0xDC00 + (code & 0x3FF));
  }

  // The non-ASCII code points protobuf's JSON printer escapes: C1 controls,
  // the soft hyphen, format and invisible characters, line and paragraph
  // separators, the BOM, interlinear annotations and language tags.
  static bool EscapedCodePoint(uint32_t c) {
    return (c >= 0x80 && c <= 0x9F) || c == 0xAD || (c >= 0x600 && c <= 0x603) || c == 0x6DD ||
           c == 0x70F || (c >= 0x17B4 && c <= 0x17B5) || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
           (c >= 0x1D173 && c <= 0x1D17A) || c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F);
  }

  // Length of the well-formed UTF-8 sequence at the start of `s` (2 to 4),
  // with its code point in `code`; 0 if it is not one.
  static size_t DecodeUtf8(absl::string_view s, uint32_t* code) {
    auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
    auto cont = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
    unsigned char c = byte(0);
    if (c >= 0xC2 && c <= 0xDF && cont(1)) {
      *code = ((c & 0x1Fu) << 6) | (byte(1) & 0x3Fu);
      return 2;
    }
    if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
      uint32_t v = ((c & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu);
      if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
      *code = v;
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
      uint32_t v = ((c & 0x07u) << 18) | ((byte(1) & 0x3Fu) << 12) | ((byte(2) & 0x3Fu) << 6) |
                   (byte(3) & 0x3Fu);
      if (v < 0x10000 || v > 0x10FFFF) return 0;
      *code = v;
      return 4;
    }
    return 0;
  }

  // Bytes that print as themselves: printable ASCII but '"', '\\', '<', '>'.
  static constexpr auto kPlain = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x7f; ++c) plain[c] = c != '"' && c != '\\' && c != '<' && c != '>';
    return plain;
  }();

  std::string& out_;
};

}  // namespace

namespace internal {

std::string ProtobufJson(const google::protobuf::Message& message) {
  static google::protobuf::util::TypeResolver* resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool());
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!message.SerializeToCodedStream(&coded)) return "null";
  }
  std::string json;
  auto status = google::protobuf::util::BinaryToJsonString(
      resolver, absl::StrCat("type.googleapis.com/", message.GetDescriptor()->full_name()), binary,
      &json, google::protobuf::util::JsonPrintOptions());
  return status.ok() ? json : "null";
}

}  // namespace internal

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message) {
  std::string json;
  JsonPrinter(&json).PrintMessage(message);
  return json;
}

}  // namespace automate
