// absl::Status -> Python exceptions, in one place. The hierarchy:
//
//   automate.Error(Exception)
//     ValidationError(Error, ValueError)   kInvalidArgument, kOutOfRange
//     NotFound(Error, LookupError)         kNotFound
//     PermissionDenied(Error)              kPermissionDenied, kUnauthenticated
//     Conflict(Error)                      kAlreadyExists, kFailedPrecondition, kAborted
//     Timeout(Error, TimeoutError)         kDeadlineExceeded
//     Unavailable(Error)                   kUnavailable
//
// The groups follow the CLI's exit codes (apps/automate/cli.cc ExitCodeFor:
// kOutOfRange is "invalid input" there too). Every exception carries `code`,
// the absl status code's name ("NOT_FOUND"), and its message is the status
// message, which the CLI prints after "automate: ".
#include <Python.h>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "binding.h"

namespace automate::python {
namespace {

// Created once at import and never freed: exception types live as long as the
// interpreter, and a static py::object would be destroyed after it.
PyObject* g_error = nullptr;
PyObject* g_validation = nullptr;
PyObject* g_not_found = nullptr;
PyObject* g_permission = nullptr;
PyObject* g_conflict = nullptr;
PyObject* g_timeout = nullptr;
PyObject* g_unavailable = nullptr;

PyObject* NewException(py::module_& m, const char* name, const char* doc, PyObject* bases) {
  std::string qualified = absl::StrCat("automate.", name);
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  Py_DECREF(bases);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // Steals nothing: add_object increfs.
  return type;
}

PyObject* Bases(PyObject* a, PyObject* b) {
  PyObject* bases = b == nullptr ? PyTuple_Pack(1, a) : PyTuple_Pack(2, a, b);
  if (bases == nullptr) throw py::error_already_set();
  return bases;
}

PyObject* TypeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return g_validation;
    case absl::StatusCode::kNotFound:
      return g_not_found;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return g_permission;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return g_conflict;
    case absl::StatusCode::kDeadlineExceeded:
      return g_timeout;
    case absl::StatusCode::kUnavailable:
      return g_unavailable;
    default:
      return g_error;
  }
}

}  // namespace

void RegisterErrors(py::module_& m) {
  g_error = NewException(
      m, "Error",
      "Base class of every error automate raises.\n\n"
      "``str(e)`` is the message the ``automate`` CLI prints (after \"automate: \"),\n"
      "and ``e.code`` the status code's name, e.g. ``\"NOT_FOUND\"``.",
      Bases(PyExc_Exception, nullptr));
  g_validation = NewException(
      m, "ValidationError",
      "Invalid input: a job spec (naming the file or source, line and field), job\n"
      "arguments, an option, or a log offset past the end. Also a ValueError.",
      Bases(g_error, PyExc_ValueError));
  g_not_found = NewException(m, "NotFound",
                             "No such job, job version, execution or secret. Also a LookupError.",
                             Bases(g_error, PyExc_LookupError));
  g_permission = NewException(
      m, "PermissionDenied",
      "The server refused the token (missing, unknown, revoked) or its role or\n"
      "groups do not allow the call.",
      Bases(g_error, nullptr));
  g_conflict = NewException(
      m, "Conflict",
      "Wrong state: the execution is already final, the job's concurrency policy\n"
      "is `forbid` and it is at its limit, a secret is missing, another engine\n"
      "holds the state dir, or the Engine/Client is closed.",
      Bases(g_error, nullptr));
  g_timeout = NewException(m, "Timeout",
                           "A wait ran out of time (Execution.wait(timeout=...)). Also a "
                           "TimeoutError.",
                           Bases(g_error, PyExc_TimeoutError));
  g_unavailable = NewException(
      m, "Unavailable",
      "The server (or a backend such as the Docker daemon) cannot be reached;\n"
      "retrying later may help.",
      Bases(g_error, nullptr));
}

void ThrowStatus(const absl::Status& status) {
  PyObject* type = TypeFor(status.code());
  py::str message = DecodeText(status.message());
  PyObject* exc = PyObject_CallOneArg(type, message.ptr());
  if (exc == nullptr) throw py::error_already_set();
  py::object owned = py::reinterpret_steal<py::object>(exc);
  owned.attr("code") = py::str(absl::StatusCodeToString(status.code()));
  PyErr_SetObject(type, exc);
  throw py::error_already_set();
}

void CheckSignals() {
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

void AddRawMethod(const py::handle& cls, const char* name, RawMethod method, const char* doc) {
  // Kept for the life of the interpreter, as the class that points to it.
  auto* def = new PyMethodDef{name, ToPyCFunction(method), METH_FASTCALL | METH_KEYWORDS, doc};
  py::object descr = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), def));
  if (!descr) throw py::error_already_set();
  if (PyObject_SetAttrString(cls.ptr(), def->ml_name, descr.ptr()) != 0) {
    throw py::error_already_set();
  }
}

std::string KeywordName(PyObject* kwnames, Py_ssize_t i) {
  return py::cast<std::string>(py::handle(PyTuple_GET_ITEM(kwnames, i)));
}

void BindArgs(const char* fn, std::initializer_list<const char*> names, PyObject* const* args,
              Py_ssize_t nargs, PyObject* kwnames, PyObject** values) {
  const Py_ssize_t count = static_cast<Py_ssize_t>(names.size());
  if (nargs > count) {
    throw py::type_error(absl::StrCat(fn, "() takes at most ", count,
                                      count == 1 ? " argument (" : " arguments (",
                                      absl::StrJoin(names, ", "), ")"));
  }
  for (Py_ssize_t i = 0; i < count; ++i) values[i] = i < nargs ? args[i] : nullptr;
  Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < keywords; ++k) {
    std::string name = KeywordName(kwnames, k);
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      throw py::type_error(absl::StrCat(fn, "() got an unexpected keyword argument '", name, "'"));
    }
    PyObject*& value = values[it - names.begin()];
    if (value != nullptr) {
      throw py::type_error(absl::StrCat(fn, "() got multiple values for argument '", name, "'"));
    }
    value = args[nargs + k];
  }
}

}  // namespace automate::python
