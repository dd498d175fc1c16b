// Shared pieces of the automate._automate extension: the engine handle that
// Engine/Client objects, executions and log streams share, conversions from
// protobuf/absl values to Python ones, and the registration functions of each
// file (one .cc per public header of libautomate, each only forwarding calls).
//
// Threads and the GIL: every call into libautomate that may block (store I/O,
// HTTP, waiting) runs with the GIL released (EngineHandle::Call). Python
// objects are only touched with the GIL held; the C++ state of an object that
// several Python threads may use while the GIL is released (a log stream) has
// its own mutex.
#ifndef AUTOMATE_BINDINGS_PYTHON_BINDING_H_
#define AUTOMATE_BINDINGS_PYTHON_BINDING_H_

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/engine.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace automate::python {

namespace py = pybind11;

// How long one slice of a blocking wait lasts: between slices the GIL is taken
// back to run signal handlers (Ctrl-C raises KeyboardInterrupt).
inline constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);

// --- errors.cc --------------------------------------------------------------
void RegisterErrors(py::module_& m);
// Raises the automate exception for `status` (REQUIRES: not OK, GIL held):
// automate.ValidationError for kInvalidArgument/kOutOfRange, NotFound,
// PermissionDenied (kPermissionDenied, kUnauthenticated), Conflict
// (kAlreadyExists, kFailedPrecondition, kAborted), Timeout
// (kDeadlineExceeded), Unavailable, else Error; the message is the status
// message, as the CLI prints it after "automate: ".
[[noreturn]] void ThrowStatus(const absl::Status& status);

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) ThrowStatus(value.status());
  return *std::move(value);
}
inline void CheckOk(const absl::Status& status) {
  if (!status.ok()) ThrowStatus(status);
}
// Runs pending signal handlers; a KeyboardInterrupt (or whatever a handler
// raised) propagates as py::error_already_set. REQUIRES: GIL held.
void CheckSignals();

// Runs f() (which returns a py::object) as the body of a method defined with
// the CPython API instead of pybind11's dispatcher: Engine.run() and
// Execution.wait(), whose dispatch through pybind11 cost ~10 us more per call
// when the calling thread has just woken from a blocking call (cold caches;
// bench/README.md, Python bindings). C++ exceptions become the Python
// exceptions pybind11 would raise. Returns a new reference, or nullptr with
// the error set. REQUIRES: GIL held.
template <typename F>
PyObject* CallRaw(F&& f) noexcept {
  try {
    return std::forward<F>(f)().release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (py::builtin_exception& e) {
    e.set_error();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
  return nullptr;
}
// A method body for AddRawMethod: (self, args, nargs, kwnames) as CPython
// passes them to METH_FASTCALL | METH_KEYWORDS functions.
using RawMethod = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);
// Adds `method` to the class `cls` under `name` with docstring `doc`
// (string literals: they must outlive the class). REQUIRES: GIL held.
void AddRawMethod(const py::handle& cls, const char* name, RawMethod method, const char* doc);
// `method` as the PyCFunction a PyMethodDef holds (with METH_FASTCALL |
// METH_KEYWORDS in its flags).
inline PyCFunction ToPyCFunction(RawMethod method) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(method));
}
// The keyword names of a METH_FASTCALL | METH_KEYWORDS call, one by one.
std::string KeywordName(PyObject* kwnames, Py_ssize_t i);
// Binds the arguments of a METH_FASTCALL | METH_KEYWORDS call as Python binds
// those of `def fn(names[0]=..., names[1]=..., ...)`: by position in order, or
// by keyword. values[i] is the argument for names[i], or nullptr if not
// given. TypeError worded as Python words it. REQUIRES: GIL held.
void BindArgs(const char* fn, std::initializer_list<const char*> names, PyObject* const* args,
              Py_ssize_t nargs, PyObject* kwnames, PyObject** values);

// --- engine.cc --------------------------------------------------------------
// An open engine (embedded or remote) shared by the Python Engine/Client
// object and everything made from it: executions and log streams keep it
// alive. close() shuts it down for all of them. Thread-safe.
class EngineHandle {
 public:
  // `engine`'s deleter also releases whatever guards it (the state dir lock).
  EngineHandle(std::shared_ptr<Engine> engine, std::string kind, std::string where);
  ~EngineHandle();
  EngineHandle(const EngineHandle&) = delete;
  EngineHandle& operator=(const EngineHandle&) = delete;

  // The engine; raises automate.Conflict once closed. REQUIRES: GIL held.
  std::shared_ptr<Engine> GetOrThrow() const;
  // Runs f(Engine&) with the GIL released and returns what it returns.
  // REQUIRES: GIL held (it is released during f and taken back after).
  template <typename F>
  auto Call(F&& f) const {
    std::shared_ptr<Engine> engine = GetOrThrow();
    py::gil_scoped_release release;
    auto result = std::forward<F>(f)(*engine);
    engine.reset();  // The last reference (after close()) frees it here, GIL released.
    return result;
  }
  // Benchmark hook: puts wrap(engine) in place of the engine. REQUIRES: GIL held.
  void Wrap(const std::function<std::shared_ptr<Engine>(std::shared_ptr<Engine>)>& wrap);
  // Shuts the engine down (running local attempts are stopped) and drops this
  // handle's reference. Idempotent. REQUIRES: GIL released.
  void Close();
  bool closed() const;
  const std::string& kind() const { return kind_; }    // "Engine" or "Client".
  const std::string& where() const { return where_; }  // State dir or server URL.

 private:
  const std::string kind_;
  const std::string where_;
  mutable absl::Mutex mu_;
  std::shared_ptr<Engine> engine_ ABSL_GUARDED_BY(mu_);
};

void RegisterEngines(py::module_& m);
// Closes every handle still open (at interpreter exit). REQUIRES: GIL released.
void CloseAllEngines();

// --- job.cc -----------------------------------------------------------------
void RegisterJobs(py::module_& m);
// Parses what apply() takes (dict, list of dicts, YAML/JSON text, bytes, a
// path) into specs with libautomate's job file parser. REQUIRES: GIL held.
std::vector<v1::JobSpec> SpecsFromPython(const py::handle& spec);
py::object MakeJob(v1::Job job);
py::object MakeSecret(v1::SecretInfo secret);

// --- execution.cc -----------------------------------------------------------
void RegisterExecutions(py::module_& m);
py::object MakeExecution(std::shared_ptr<EngineHandle> handle, v1::Execution execution);
// An Execution object with an empty snapshot, and in *snapshot where to put
// it (valid while the object lives): run() makes the object before it blocks,
// while the caches are warm, and fills it in after.
py::object MakeExecution(std::shared_ptr<EngineHandle> handle, v1::Execution** snapshot);

// --- log.cc -----------------------------------------------------------------
void RegisterLogs(py::module_& m);
// Opens the log of `id` (GIL released while opening). REQUIRES: GIL held.
py::object OpenLogStream(std::shared_ptr<EngineHandle> handle, const std::string& id,
                         int64_t offset, bool follow);

// --- convert.cc -------------------------------------------------------------
// Times as timezone-aware UTC datetimes; None for an unset timestamp.
py::object ToDatetime(absl::Time time);
py::object ToDatetime(const google::protobuf::Timestamp& time, bool present);
// The message's proto3 JSON mapping (lowerCamelCase keys, automate/json.h)
// as Python objects, through json.loads.
py::object MessageToDict(const google::protobuf::Message& message);
// UTF-8 bytes as str, invalid sequences replaced (U+FFFD).
py::str DecodeText(absl::string_view text);
// "SUCCEEDED" -> "succeeded": the lower-case enum names users see.
std::string LowerName(const std::string& name);

}  // namespace automate::python

#endif  // AUTOMATE_BINDINGS_PYTHON_BINDING_H_
