// Conversions from protobuf and absl values to Python objects.
#include <Python.h>
#include <datetime.h>

#include <cctype>
#include <string>

#include "absl/time/civil_time.h"
#include "automate/json.h"
#include "binding.h"

namespace automate::python {
namespace {

PyDateTime_CAPI* DatetimeApi() {
  // The capsule import is cheap after the first call (the module is cached),
  // but PyDateTime_IMPORT sets a per-file static; do it once.
  static PyDateTime_CAPI* api = [] {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == nullptr) throw py::error_already_set();
    return PyDateTimeAPI;
  }();
  return api;
}

}  // namespace

py::object ToDatetime(absl::Time time) {
  if (time == absl::InfinitePast() || time == absl::InfiniteFuture()) return py::none();
  PyDateTime_CAPI* api = DatetimeApi();
  absl::TimeZone utc = absl::UTCTimeZone();
  absl::CivilSecond civil = absl::ToCivilSecond(time, utc);
  absl::Duration sub = time - absl::FromCivil(civil, utc);
  int micros = static_cast<int>(absl::ToInt64Microseconds(sub));
  PyObject* dt = api->DateTime_FromDateAndTime(
      static_cast<int>(civil.year()), civil.month(), civil.day(), civil.hour(), civil.minute(),
      civil.second(), micros, api->TimeZone_UTC, api->DateTimeType);
  if (dt == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(dt);
}

py::object ToDatetime(const google::protobuf::Timestamp& time, bool present) {
  if (!present) return py::none();
  return ToDatetime(absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos()));
}

py::object MessageToDict(const google::protobuf::Message& message) {
  std::string json = ValueOrThrow(MessageToJson(message));
  static PyObject* loads = [] {
    return py::object(py::module_::import("json").attr("loads")).release().ptr();  // Never freed.
  }();
  return py::reinterpret_borrow<py::object>(loads)(py::str(json));
}

py::str DecodeText(absl::string_view text) {
  PyObject* s =
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (s == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

std::string LowerName(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

}  // namespace automate::python
