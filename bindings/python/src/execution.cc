// automate/execution.h: the Execution and Attempt objects. An Execution is a
// snapshot of the stored record plus the engine it came from; wait() and
// refresh() replace the snapshot, cancel() and logs() act through the engine.
#include <cstddef>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "automate/execution.h"
#include "binding.h"
// After Python.h (binding.h includes it).
#include <structmember.h>

namespace automate::python {
namespace {

struct AttemptObject {
  v1::Attempt attempt;
};

// Snapshots this thread let go of, freed in its next wait(). A final
// snapshot is a dozen allocations; freed where it is let go of (a wait()
// returning the new one, an Execution freed), right after the thread woke
// from a blocking call with every cache cold, they put about 2 us on the
// path from one job's end to the next submit of a run().wait() loop
// (bench/README.md, Python bindings). In the next wait(), with the GIL
// released and that job starting, they are off that path. Bounded, so a
// thread that never waits keeps only a few.
thread_local std::vector<v1::Execution> t_graveyard;
constexpr size_t kGraveyardSize = 8;

// Takes the contents of `exec` (leaving it empty) to free later, if there
// is room; else leaves it for its owner to free now.
void Bury(v1::Execution& exec) {
  if (t_graveyard.size() >= kGraveyardSize) return;
  if (t_graveyard.capacity() == 0) t_graveyard.reserve(kGraveyardSize);
  t_graveyard.emplace_back(std::move(exec));  // Swaps: nothing is freed here.
}

// The Execution type is written against the CPython API rather than with
// pybind11 (as Attempt is): run().wait() makes and frees one per call, right
// after the calling thread wakes from a blocking call, when pybind11's
// instance registry and holder allocation cost several microseconds more than
// an object with its fields inline (bench/README.md, Python bindings).
//
// Its fields are only touched with the GIL held: Python threads sharing one
// Execution see whole snapshots.
struct ExecutionHead {  // Standard layout, so offsetof() applies.
  PyObject_HEAD
  PyObject* weakrefs;  // For weakref.ref(execution); tp_alloc zeroes it.
};
struct ExecutionObject {
  ExecutionHead head;  // First: a PyObject* to an Execution points here.
  std::shared_ptr<EngineHandle> handle;
  v1::Execution exec;

  ExecutionObject& Refresh() {
    std::string id = exec.id();
    exec = ValueOrThrow(handle->Call([&](Engine& e) { return e.GetExecution(id); }));
    return *this;
  }

  // Waits in slices so that Ctrl-C (and other signal handlers) run between
  // them; the GIL is released during each slice.
  void Wait(std::optional<double> timeout) {
    absl::Time deadline = absl::InfiniteFuture();
    if (timeout.has_value()) {
      if (!(*timeout >= 0)) ThrowStatus(absl::InvalidArgumentError("timeout: must be >= 0"));
      deadline = absl::Now() + absl::Seconds(*timeout);
    }
    std::string id = exec.id();
    while (true) {
      absl::Time slice_end;
      absl::StatusOr<v1::Execution> done = handle->Call([&](Engine& e) {
        t_graveyard.clear();
        slice_end = std::min(deadline, absl::Now() + kWaitSlice);
        return e.Wait(id, slice_end);
      });
      if (done.ok()) {
        exec.Swap(&*done);
        Bury(*done);  // The old snapshot.
        return;
      }
      if (done.status().code() != absl::StatusCode::kDeadlineExceeded || slice_end >= deadline) {
        ThrowStatus(done.status());
      }
      CheckSignals();
    }
  }

  void Cancel() {
    std::string id = exec.id();
    CheckOk(handle->Call([&](Engine& e) { return e.Cancel(id); }));
  }
};

PyTypeObject* g_execution_type = nullptr;  // Set by RegisterExecutions; never freed.

// `self` as an Execution. REQUIRES: it is one (method and getter slots are
// only called on instances of their type).
ExecutionObject& Self(PyObject* self) { return *reinterpret_cast<ExecutionObject*>(self); }

void DeallocExecution(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  ExecutionObject& e = Self(self);
  if (e.head.weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  Bury(e.exec);
  e.exec.~Execution();
  // The last reference to the handle closes the engine (~EngineHandle lets the GIL go).
  e.handle.~shared_ptr();
  type->tp_free(self);
  Py_DECREF(type);  // Instances of a heap type own a reference to it.
}

py::object OptionalInt(bool present, int value) {
  return present ? py::object(py::int_(value)) : py::object(py::none());
}

std::string TriggerText(const v1::Trigger& trigger) {
  std::string kind = LowerName(v1::Trigger::Kind_Name(trigger.kind()));
  return trigger.source().empty() ? kind : absl::StrCat(kind, ":", trigger.source());
}

py::object Seconds(const google::protobuf::Timestamp& from, bool has_from,
                   const google::protobuf::Timestamp& to, bool has_to) {
  if (!has_from || !has_to) return py::none();
  double s = static_cast<double>(to.seconds() - from.seconds()) +
             static_cast<double>(to.nanos() - from.nanos()) / 1e9;
  return py::float_(s);
}

void RegisterAttempt(py::module_& m) {
  py::class_<AttemptObject>(m, "Attempt", "One try of an execution on an executor.")
      .def_property_readonly(
          "number", [](const AttemptObject& a) { return a.attempt.number(); }, "1, 2, ...")
      .def_property_readonly(
          "executor", [](const AttemptObject& a) { return a.attempt.executor(); },
          "'local', 'docker', ...")
      .def_property_readonly(
          "status",
          [](const AttemptObject& a) { return LowerName(v1::Attempt::Status_Name(a.attempt.status())); },
          "'starting', 'running', 'succeeded', 'failed', 'cancelled' or 'timed_out'.")
      .def_property_readonly(
          "exit_code",
          [](const AttemptObject& a) {
            return OptionalInt(a.attempt.has_exit_code(), a.attempt.exit_code());
          },
          "The process's exit code, or None (running, killed by a signal, never started).")
      .def_property_readonly(
          "signal",
          [](const AttemptObject& a) { return OptionalInt(a.attempt.has_signal(), a.attempt.signal()); },
          "The signal that killed it, or None.")
      .def_property_readonly(
          "error", [](const AttemptObject& a) { return a.attempt.error(); },
          "Why it failed beyond its exit code ('timed out after 30s', ...); '' if none.")
      .def_property_readonly(
          "retryable", [](const AttemptObject& a) { return a.attempt.retryable(); },
          "True if the failure is of a kind a retry can help.")
      .def_property_readonly(
          "start_time",
          [](const AttemptObject& a) {
            return ToDatetime(a.attempt.start_time(), a.attempt.has_start_time());
          },
          "When it started (UTC datetime), or None.")
      .def_property_readonly(
          "end_time",
          [](const AttemptObject& a) { return ToDatetime(a.attempt.end_time(), a.attempt.has_end_time()); },
          "When it ended (UTC datetime), or None.")
      .def_property_readonly(
          "log_offset", [](const AttemptObject& a) { return a.attempt.log_offset(); },
          "Offset in the execution's log where this attempt's output starts.")
      .def(
          "to_dict", [](const AttemptObject& a) { return MessageToDict(a.attempt); },
          "to_dict() -> dict\n\nThe attempt in the API's JSON form, as a dict.")
      .def(
          "__repr__",
          [](const AttemptObject& a) {
            return absl::StrCat("<automate.Attempt ", a.attempt.number(), " ",
                                LowerName(v1::Attempt::Status_Name(a.attempt.status())), ">");
          },
          "The attempt's number and status.");
}

// wait(timeout=None), with the CPython API (see CallRaw).
PyObject* RawWait(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return CallRaw([&]() -> py::object {
    PyObject* timeout;
    BindArgs("wait", {"timeout"}, args, nargs, kwnames, &timeout);
    std::optional<double> seconds;
    if (timeout != nullptr && timeout != Py_None) {
      seconds = PyFloat_AsDouble(timeout);
      if (*seconds == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    }
    Self(self).Wait(seconds);
    return py::reinterpret_borrow<py::object>(self);
  });
}

// logs(follow=False, offset=0), as pybind11 bound it before: ``follow`` any
// object with a truth value, ``offset`` an int.
PyObject* RawLogs(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return CallRaw([&]() -> py::object {
    PyObject* values[2];  // follow, offset
    BindArgs("logs", {"follow", "offset"}, args, nargs, kwnames, values);
    bool follow = false;
    if (values[0] != nullptr) {
      int truth = PyObject_IsTrue(values[0]);
      if (truth < 0) throw py::error_already_set();
      follow = truth != 0;
    }
    int64_t offset = 0;
    if (values[1] != nullptr) {
      if (!PyLong_Check(values[1])) throw py::type_error("logs(): offset must be an int");
      offset = py::cast<int64_t>(py::handle(values[1]));
    }
    const ExecutionObject& e = Self(self);
    return OpenLogStream(e.handle, e.exec.id(), offset, follow);
  });
}

template <py::object (*F)(ExecutionObject&)>
PyObject* NoArgs(PyObject* self, PyObject*) {
  return CallRaw([&] { return F(Self(self)); });
}

py::object RefreshMethod(ExecutionObject& e) {
  e.Refresh();
  return py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&e));
}
py::object CancelMethod(ExecutionObject& e) {
  e.Cancel();
  return py::none();
}
py::object ToDictMethod(ExecutionObject& e) { return MessageToDict(e.exec); }

PyObject* Repr(PyObject* self) {
  return CallRaw([&] {
    const v1::Execution& exec = Self(self).exec;
    return py::object(py::str(absl::StrCat("<automate.Execution ", exec.id(), " job=", exec.job(),
                                           " state=", StateName(exec.state()), ">")));
  });
}

// A read-only attribute: F(execution) as a Python object.
template <py::object (*F)(const v1::Execution&)>
PyObject* Get(PyObject* self, void*) {
  return CallRaw([&] { return F(Self(self).exec); });
}

py::object GetId(const v1::Execution& e) { return py::str(e.id()); }
py::object GetJob(const v1::Execution& e) { return py::str(e.job()); }
py::object GetJobVersion(const v1::Execution& e) { return py::int_(e.job_version()); }
py::object GetState(const v1::Execution& e) { return py::str(StateName(e.state())); }
py::object GetDone(const v1::Execution& e) { return py::bool_(IsFinal(e.state())); }
py::object GetSucceeded(const v1::Execution& e) { return py::bool_(e.state() == v1::SUCCEEDED); }
py::object GetExitCode(const v1::Execution& e) { return OptionalInt(e.has_exit_code(), e.exit_code()); }
py::object GetError(const v1::Execution& e) { return DecodeText(e.error()); }
py::object GetAttempts(const v1::Execution& e) {
  py::list attempts;
  for (const v1::Attempt& a : e.attempts()) attempts.append(AttemptObject{a});
  return attempts;
}
py::object GetArgs(const v1::Execution& e) {
  py::dict args;
  for (const auto& [k, v] : e.args()) args[py::str(k)] = py::str(v);
  return args;
}
py::object GetRequestedBy(const v1::Execution& e) { return py::str(e.requested_by()); }
py::object GetTrigger(const v1::Execution& e) { return py::str(TriggerText(e.trigger())); }
py::object GetPriority(const v1::Execution& e) { return py::int_(e.priority()); }
py::object GetCreateTime(const v1::Execution& e) {
  return ToDatetime(e.create_time(), e.has_create_time());
}
py::object GetStartTime(const v1::Execution& e) {
  return ToDatetime(e.start_time(), e.has_start_time());
}
py::object GetEndTime(const v1::Execution& e) { return ToDatetime(e.end_time(), e.has_end_time()); }
py::object GetDuration(const v1::Execution& e) {
  return Seconds(e.start_time(), e.has_start_time(), e.end_time(), e.has_end_time());
}
py::object GetLogBytes(const v1::Execution& e) { return py::int_(e.log_bytes()); }
py::object GetCancelRequested(const v1::Execution& e) { return py::bool_(e.cancel_requested()); }
py::object GetJobSpec(const v1::Execution& e) { return MessageToDict(e.job_spec()); }

// PyMethodDef and PyGetSetDef take char* names and docs; these are literals
// that live as long as the type.
char* Text(const char* literal) { return const_cast<char*>(literal); }

PyCFunction Method(PyObject* (*f)(PyObject*, PyObject*)) { return f; }
PyCFunction Method(RawMethod f) { return ToPyCFunction(f); }

PyMethodDef g_methods[] = {
    {"wait", Method(&RawWait), METH_FASTCALL | METH_KEYWORDS,
     "wait(timeout=None) -> Execution\n\n"
     "Blocks until the execution is final and returns it (self, updated).\n"
     "``timeout`` in seconds; None waits as long as it takes. Raises\n"
     "automate.Timeout if it is not final in time. Ctrl-C interrupts it\n"
     "(KeyboardInterrupt); the execution goes on. Other threads run meanwhile."},
    {"refresh", Method(&NoArgs<&RefreshMethod>), METH_NOARGS,
     "refresh() -> Execution\n\nReads the execution again and returns it (self, updated)."},
    {"cancel", Method(&NoArgs<&CancelMethod>), METH_NOARGS,
     "cancel() -> None\n\n"
     "Cancels it: a queued execution at once; a running one is stopped\n"
     "(SIGTERM to its process group, SIGKILL after the grace period). Call\n"
     "wait() to see it end. Raises automate.Conflict if it is already final."},
    {"logs", Method(&RawLogs), METH_FASTCALL | METH_KEYWORDS,
     "logs(follow=False, offset=0) -> LogStream\n\n"
     "Its log from byte ``offset``, as an iterator of LogRecord (``stream``,\n"
     "``offset``, ``data``); ``.lines()`` iterates text lines instead. With\n"
     "``follow`` it goes on until the execution is final. Read lazily, about\n"
     "1 MiB at a time, so any size fits in bounded memory. Ctrl-C interrupts a\n"
     "follow."},
    {"to_dict", Method(&NoArgs<&ToDictMethod>), METH_NOARGS,
     "to_dict() -> dict\n\n"
     "The snapshot in the API's JSON form (lowerCamelCase keys), as a dict: what\n"
     "``automate status ID -o json`` prints."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef g_getters[] = {
    {"id", &Get<&GetId>, nullptr, Text("The execution's id, a ULID (ids sort by creation time)."),
     nullptr},
    {"job", &Get<&GetJob>, nullptr, Text("The job's name."), nullptr},
    {"job_version", &Get<&GetJobVersion>, nullptr, Text("The version of the job it runs."),
     nullptr},
    {"state", &Get<&GetState>, nullptr,
     Text("'pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled' or 'timed_out'."),
     nullptr},
    {"done", &Get<&GetDone>, nullptr, Text("True once the state is final."), nullptr},
    {"succeeded", &Get<&GetSucceeded>, nullptr, Text("True if the state is 'succeeded'."),
     nullptr},
    {"exit_code", &Get<&GetExitCode>, nullptr, Text("The last attempt's exit code, or None."),
     nullptr},
    {"error", &Get<&GetError>, nullptr, Text("Why it failed, for failed states ('' otherwise)."),
     nullptr},
    {"attempts", &Get<&GetAttempts>, nullptr,
     Text("Its attempts so far (list of Attempt), first to last."), nullptr},
    {"args", &Get<&GetArgs>, nullptr,
     Text("Its arguments after defaults (dict of str; never secret values)."), nullptr},
    {"requested_by", &Get<&GetRequestedBy>, nullptr,
     Text("Who asked: $USER for an embedded engine, the token's name on a server."), nullptr},
    {"trigger", &Get<&GetTrigger>, nullptr,
     Text("Why it runs: 'manual', or 'schedule:NAME' and the like."), nullptr},
    {"priority", &Get<&GetPriority>, nullptr, Text("Its priority (higher runs first)."), nullptr},
    {"create_time", &Get<&GetCreateTime>, nullptr, Text("When it was submitted (UTC datetime)."),
     nullptr},
    {"start_time", &Get<&GetStartTime>, nullptr,
     Text("When its first attempt started (UTC datetime), or None."), nullptr},
    {"end_time", &Get<&GetEndTime>, nullptr, Text("When it ended (UTC datetime), or None."),
     nullptr},
    {"duration", &Get<&GetDuration>, nullptr,
     Text("Seconds from its start to its end, or None while it has not both."), nullptr},
    {"log_bytes", &Get<&GetLogBytes>, nullptr, Text("Bytes in its log so far."), nullptr},
    {"cancel_requested", &Get<&GetCancelRequested>, nullptr,
     Text("True once someone asked to cancel it."), nullptr},
    {"job_spec", &Get<&GetJobSpec>, nullptr,
     Text("The job definition it runs (a snapshot), as a dict."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef g_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ExecutionHead, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

constexpr char kExecutionDoc[] =
    "One run of a job: a snapshot of its record, plus the engine it belongs to.\n\n"
    "Attributes read the snapshot; ``refresh()`` and ``wait()`` update it.\n"
    "States: 'pending', 'queued', 'running', then one of the final states\n"
    "'succeeded', 'failed', 'cancelled', 'timed_out' (automate.FINAL_STATES).";

}  // namespace

py::object MakeExecution(std::shared_ptr<EngineHandle> handle, v1::Execution** snapshot) {
  PyObject* object = g_execution_type->tp_alloc(g_execution_type, 0);
  if (object == nullptr) throw py::error_already_set();
  ExecutionObject& e = Self(object);
  new (&e.handle) std::shared_ptr<EngineHandle>(std::move(handle));
  new (&e.exec) v1::Execution();
  *snapshot = &e.exec;
  return py::reinterpret_steal<py::object>(object);
}

py::object MakeExecution(std::shared_ptr<EngineHandle> handle, v1::Execution execution) {
  v1::Execution* snapshot = nullptr;
  py::object object = MakeExecution(std::move(handle), &snapshot);
  snapshot->Swap(&execution);
  return object;
}

void RegisterExecutions(py::module_& m) {
  RegisterAttempt(m);
  PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(&DeallocExecution)},
      {Py_tp_repr, reinterpret_cast<void*>(&Repr)},
      {Py_tp_methods, g_methods},
      {Py_tp_getset, g_getters},
      {Py_tp_members, g_members},
      {Py_tp_doc, const_cast<char*>(kExecutionDoc)},
      {0, nullptr},
  };
  // No tp_new: executions come from an engine (run(), execution(), history()).
  PyType_Spec spec = {"automate.Execution", sizeof(ExecutionObject), 0,
                      Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) throw py::error_already_set();
  m.add_object("Execution", py::reinterpret_borrow<py::object>(type));
  // Keeps the reference PyType_FromSpec returned: instances may outlive the
  // module's attribute.
  g_execution_type = reinterpret_cast<PyTypeObject*>(type);
}

}  // namespace automate::python
