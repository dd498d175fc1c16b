#include "automate/json.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "automate/v1/api.pb.h"
#include "automate/v1/execution.pb.h"
#include "automate/v1/job.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "util/protobuf_json.h"

namespace automate_testing {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// protobuf's own printer: MessageToJson must match it byte for byte.
std::string ReferenceJson(const Message& message) {
  return automate::internal::ProtobufJson(message);
}

std::string Utf8(uint32_t c) {
  std::string s;
  if (c < 0x80) {
    s.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (c >> 6)));
    s.push_back(static_cast<char>(0x80 | (c & 63)));
  } else if (c < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (c >> 12)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 63)));
    s.push_back(static_cast<char>(0x80 | (c & 63)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (c >> 18)));
    s.push_back(static_cast<char>(0x80 | ((c >> 12) & 63)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 63)));
    s.push_back(static_cast<char>(0x80 | (c & 63)));
  }
  return s;
}

// Fills `message` with random values of every kind its fields allow.
class RandomFiller {
 public:
  explicit RandomFiller(uint32_t seed) : rng_(seed) {}

  void Fill(Message* message, int depth) {
    const Descriptor* type = message->GetDescriptor();
    const Reflection* r = message->GetReflection();
    if (type->full_name() == "google.protobuf.Timestamp") {
      r->SetInt64(message, type->FindFieldByNumber(1), Int(0, 253402300799));
      r->SetInt32(message, type->FindFieldByNumber(2), static_cast<int32_t>(Nanos()));
      return;
    }
    if (type->full_name() == "google.protobuf.Duration") {
      int64_t seconds = Int(0, 315576000000);
      int64_t nanos = Nanos();
      if (Int(0, 1) == 1) {
        seconds = -seconds;
        nanos = -nanos;
      }
      r->SetInt64(message, type->FindFieldByNumber(1), seconds);
      r->SetInt32(message, type->FindFieldByNumber(2), static_cast<int32_t>(nanos));
      return;
    }
    if (type->full_name() == "google.protobuf.Value") {
      // Exactly one kind (none is not a valid Value). Not null: see
      // StructNullIsPrintedAsNull.
      const FieldDescriptor* kind = type->field(static_cast<int>(Int(1, type->field_count() - 1)));
      if (kind->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 3) {
        r->SetBool(message, type->FindFieldByName("bool_value"), true);
      } else {
        Set(message, kind, depth);
      }
      return;
    }
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      // Left unset, but never a map entry's value (a Value must have one).
      if (type->map_key() == nullptr && Int(0, 3) == 0) continue;
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 3 &&
          type->map_key() == nullptr) {
        continue;
      }
      if (field->is_repeated()) {
        int n = static_cast<int>(Int(0, 4));
        for (int k = 0; k < n; ++k) {
          Add(message, field, depth);
          if (field->is_map()) UniqueKey(message, field, k);
        }
      } else {
        Set(message, field, depth);
      }
    }
  }

  std::string String() {
    static const std::vector<std::string> pieces = {
        "a", "Z", "0", " ", "\"", "\\", "/", "<", ">", "&", "\n", "\t", "\b", "\f", "\r",
        std::string(1, '\0'), "\x01", "\x1f", "\x7f", Utf8(0x80), Utf8(0xAD), Utf8(0xE9),
        Utf8(0x600), Utf8(0x2028), Utf8(0x2029), Utf8(0x202F), Utf8(0xFEFF), Utf8(0xFFFD),
        Utf8(0x1F600), Utf8(0xE0001), Utf8(0xE0041), Utf8(0x1D173), "****", "${SECRET}"};
    std::string s;
    int n = static_cast<int>(Int(0, 12));
    for (int i = 0; i < n; ++i) s += pieces[Int(0, static_cast<int64_t>(pieces.size()) - 1)];
    return s;
  }

  double Double() {
    static const double specials[] = {0.0,
                                      -0.0,
                                      1.0,
                                      2.0,
                                      0.1,
                                      1.5,
                                      1e21,
                                      1e-7,
                                      0.30000000000000004,
                                      123456789012345678.0,
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN()};
    if (Int(0, 1) == 0) return specials[Int(0, std::size(specials) - 1)];
    return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
  }

 private:
  int64_t Int(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  int64_t Nanos() {
    switch (Int(0, 3)) {
      case 0:
        return 0;
      case 1:
        return Int(0, 999) * 1000000;
      case 2:
        return Int(0, 999999) * 1000;
      default:
        return Int(0, 999999999);
    }
  }
  int64_t AnyInt64() {
    static const int64_t specials[] = {0, 1, -1, std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min()};
    if (Int(0, 1) == 0) return specials[Int(0, 4)];
    return Int(-1000000000000, 1000000000000);
  }
  int EnumNumber(const FieldDescriptor* field) {
    const auto* type = field->enum_type();
    if (Int(0, 9) == 0) return 1000 + static_cast<int>(Int(0, 5));  // Not a named value.
    return type->value(static_cast<int>(Int(0, type->value_count() - 1)))->number();
  }

  // Map keys must differ; random ones may not, so entry k gets its own.
  void UniqueKey(Message* m, const FieldDescriptor* f, int k) {
    const Reflection* r = m->GetReflection();
    Message* entry = r->MutableRepeatedMessage(m, f, r->FieldSize(*m, f) - 1);
    const FieldDescriptor* key = f->message_type()->map_key();
    const Reflection* er = entry->GetReflection();
    int64_t n = Int(0, 1) == 0 ? 3 - k : 100 * k + 50;  // Filled in and out of order.
    switch (key->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        return er->SetString(entry, key, absl::StrCat(String(), "#", n));
      case FieldDescriptor::CPPTYPE_INT32:
        return er->SetInt32(entry, key, static_cast<int32_t>(n));
      case FieldDescriptor::CPPTYPE_INT64:
        return er->SetInt64(entry, key, n);
      case FieldDescriptor::CPPTYPE_UINT32:
        return er->SetUInt32(entry, key, static_cast<uint32_t>(n));
      case FieldDescriptor::CPPTYPE_UINT64:
        return er->SetUInt64(entry, key, static_cast<uint64_t>(n));
      case FieldDescriptor::CPPTYPE_BOOL:
        return er->SetBool(entry, key, k % 2 == 1);
      default:
        return;
    }
  }

  void Set(Message* m, const FieldDescriptor* f, int depth) {
    const Reflection* r = m->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return r->SetInt32(m, f, static_cast<int32_t>(AnyInt64()));
      case FieldDescriptor::CPPTYPE_UINT32:
        return r->SetUInt32(m, f, static_cast<uint32_t>(AnyInt64()));
      case FieldDescriptor::CPPTYPE_INT64:
        return r->SetInt64(m, f, AnyInt64());
      case FieldDescriptor::CPPTYPE_UINT64:
        return r->SetUInt64(m, f, static_cast<uint64_t>(AnyInt64()));
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return r->SetDouble(m, f, Double());
      case FieldDescriptor::CPPTYPE_FLOAT:
        return r->SetFloat(m, f, static_cast<float>(Double()));
      case FieldDescriptor::CPPTYPE_BOOL:
        return r->SetBool(m, f, Int(0, 1) == 1);
      case FieldDescriptor::CPPTYPE_ENUM:
        return r->SetEnumValue(m, f, EnumNumber(f));
      case FieldDescriptor::CPPTYPE_STRING:
        return r->SetString(m, f, String());
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Fill(r->MutableMessage(m, f), depth + 1);
    }
  }

  void Add(Message* m, const FieldDescriptor* f, int depth) {
    const Reflection* r = m->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return r->AddInt32(m, f, static_cast<int32_t>(AnyInt64()));
      case FieldDescriptor::CPPTYPE_UINT32:
        return r->AddUInt32(m, f, static_cast<uint32_t>(AnyInt64()));
      case FieldDescriptor::CPPTYPE_INT64:
        return r->AddInt64(m, f, AnyInt64());
      case FieldDescriptor::CPPTYPE_UINT64:
        return r->AddUInt64(m, f, static_cast<uint64_t>(AnyInt64()));
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return r->AddDouble(m, f, Double());
      case FieldDescriptor::CPPTYPE_FLOAT:
        return r->AddFloat(m, f, static_cast<float>(Double()));
      case FieldDescriptor::CPPTYPE_BOOL:
        return r->AddBool(m, f, Int(0, 1) == 1);
      case FieldDescriptor::CPPTYPE_ENUM:
        return r->AddEnumValue(m, f, EnumNumber(f));
      case FieldDescriptor::CPPTYPE_STRING:
        return r->AddString(m, f, String());
      case FieldDescriptor::CPPTYPE_MESSAGE:
        // A map entry too: random keys, so entries come in any order.
        return Fill(r->AddMessage(m, f), depth + 1);
    }
  }

  std::mt19937 rng_;
};

// Every message of the automate.v1 package, including nested ones.
std::vector<const Descriptor*> AllMessageTypes() {
  std::vector<const Descriptor*> out;
  std::vector<const Descriptor*> stack;
  for (const auto* file : {automate::v1::JobSpec::descriptor()->file(),
                           automate::v1::Execution::descriptor()->file(),
                           automate::v1::ListJobsResponse::descriptor()->file(),
                           google::protobuf::Struct::descriptor()->file(),
                           google::protobuf::Int64Value::descriptor()->file()}) {
    for (int i = 0; i < file->message_type_count(); ++i) stack.push_back(file->message_type(i));
  }
  while (!stack.empty()) {
    const Descriptor* type = stack.back();
    stack.pop_back();
    if (type->map_key() != nullptr) continue;  // A map entry.
    if (std::find(out.begin(), out.end(), type) != out.end()) continue;
    out.push_back(type);
    for (int i = 0; i < type->nested_type_count(); ++i) stack.push_back(type->nested_type(i));
  }
  return out;
}

TEST(MessageToJsonTest, MatchesProtobufsPrinterOnRandomMessagesOfEveryType) {
  google::protobuf::DynamicMessageFactory factory;
  std::vector<const Descriptor*> types = AllMessageTypes();
  ASSERT_GE(types.size(), 20u);
  RandomFiller filler(20261128);
  int compared = 0;
  for (const Descriptor* type : types) {
    for (int round = 0; round < 60; ++round) {
      std::unique_ptr<Message> message(factory.GetPrototype(type)->New());
      filler.Fill(message.get(), 0);
      auto json = automate::MessageToJson(*message);
      ASSERT_TRUE(json.ok()) << json.status();
      ASSERT_EQ(*json, ReferenceJson(*message))
          << type->full_name() << " round " << round << ":\n" << message->DebugString();
      ++compared;
    }
  }
  EXPECT_EQ(compared, static_cast<int>(types.size()) * 60);
}

// Every code point, one string per 4096 of them, escaped as protobuf does.
TEST(MessageToJsonTest, EscapesEveryCodePointAsProtobufDoes) {
  for (uint32_t block = 0; block <= 0x10FFFF; block += 0x1000) {
    std::string s;
    for (uint32_t c = std::max<uint32_t>(block, 1); c < block + 0x1000; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;  // Not code points of UTF-8.
      s += Utf8(c);
    }
    automate::v1::JobSpec spec;
    spec.set_description(s);
    auto json = automate::MessageToJson(spec);
    ASSERT_TRUE(json.ok());
    ASSERT_EQ(*json, ReferenceJson(spec)) << "block U+" << absl::StrCat(absl::Hex(block));
  }
}

// protobuf 3.21's printer drops a Struct entry whose Value is null; the
// proto3 JSON mapping (and every parser) has it as null, and so do we.
TEST(MessageToJsonTest, StructNullIsPrintedAsNull) {
  google::protobuf::Struct info;
  (*info.mutable_fields())["a"].set_null_value(google::protobuf::NULL_VALUE);
  (*info.mutable_fields())["b"].set_string_value("x");
  auto json = automate::MessageToJson(info);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, "{\"a\":null,\"b\":\"x\"}");
}

TEST(MessageToJsonTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  automate::v1::JobSpec spec;
  spec.set_description(std::string("a\xff\xc3(b\xed\xa0\x80" "c", 9));
  auto json = automate::MessageToJson(spec);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, "{\"description\":\"a\xEF\xBF\xBD\xEF\xBF\xBD(b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "c\"}");
}

// Maps print in key order whatever order they were filled in, so the CLI's
// -o json/yaml and the API's bodies are stable from one process to the next.
TEST(MessageToJsonTest, MapsAreInKeyOrder) {
  automate::v1::JobSpec a, b;
  for (int i = 0; i < 40; ++i) (*a.mutable_labels())["k" + std::to_string(i)] = "v";
  for (int i = 39; i >= 0; --i) (*b.mutable_labels())["k" + std::to_string(i)] = "v";
  a.set_name("x");
  b.set_name("x");
  auto ja = automate::MessageToJson(a);
  auto jb = automate::MessageToJson(b);
  ASSERT_TRUE(ja.ok()) << ja.status();
  ASSERT_TRUE(jb.ok()) << jb.status();
  EXPECT_EQ(*ja, *jb);
  EXPECT_LT(ja->find("\"k0\""), ja->find("\"k1\""));
  EXPECT_LT(ja->find("\"k1\""), ja->find("\"k10\""));
  EXPECT_LT(ja->find("\"k10\""), ja->find("\"k2\""));
  EXPECT_EQ(ja->find("\"name\":\"x\""), 1u);
}

TEST(MessageToJsonTest, UsesTheProto3Mapping) {
  automate::v1::JobSpec spec;
  spec.set_name("j");
  spec.set_priority(3);
  spec.mutable_timeout()->set_seconds(90);
  spec.mutable_log_limit()->set_bytes(int64_t{1} << 40);
  auto json = automate::MessageToJson(spec);
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("\"timeout\":\"90s\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"logLimit\":{\"bytes\":\"1099511627776\"}"), std::string::npos) << *json;
}

}  // namespace
}  // namespace automate_testing
