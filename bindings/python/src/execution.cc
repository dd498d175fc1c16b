// automate/execution.h: the Execution and Attempt objects. An Execution is a
// snapshot of the stored record plus the engine it came from; wait() and
// refresh() replace the snapshot, cancel() and logs() act through the engine.
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "automate/execution.h"
#include "binding.h"

namespace automate::python {
namespace {

struct AttemptObject {
  v1::Attempt attempt;
};

// Only touched with the GIL held: Python threads sharing one Execution see
// whole snapshots.
struct ExecutionObject {
  std::shared_ptr<EngineHandle> handle;
  v1::Execution exec;

  ExecutionObject& Refresh() {
    std::string id = exec.id();
    exec = ValueOrThrow(handle->Call([&](Engine& e) { return e.GetExecution(id); }));
    return *this;
  }

  // Waits in slices so that Ctrl-C (and other signal handlers) run between
  // them; the GIL is released during each slice.
  ExecutionObject& Wait(std::optional<double> timeout) {
    absl::Time deadline = absl::InfiniteFuture();
    if (timeout.has_value()) {
      if (!(*timeout >= 0)) ThrowStatus(absl::InvalidArgumentError("timeout: must be >= 0"));
      deadline = absl::Now() + absl::Seconds(*timeout);
    }
    std::string id = exec.id();
    while (true) {
      absl::Time slice_end;
      absl::StatusOr<v1::Execution> done = handle->Call([&](Engine& e) {
        slice_end = std::min(deadline, absl::Now() + kWaitSlice);
        return e.Wait(id, slice_end);
      });
      if (done.ok()) {
        exec = *std::move(done);
        return *this;
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
    Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + keywords > 1) {
      throw py::type_error("wait() takes at most 1 argument (timeout)");
    }
    PyObject* timeout = nargs == 1 ? args[0] : nullptr;
    if (keywords == 1) {
      std::string name = KeywordName(kwnames, 0);
      if (name != "timeout") {
        throw py::type_error(absl::StrCat("wait() got an unexpected keyword argument '", name, "'"));
      }
      timeout = args[0];
    }
    std::optional<double> seconds;
    if (timeout != nullptr && timeout != Py_None) {
      seconds = PyFloat_AsDouble(timeout);
      if (*seconds == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    }
    py::handle(self).cast<ExecutionObject&>().Wait(seconds);
    return py::reinterpret_borrow<py::object>(self);
  });
}

constexpr char kWaitDoc[] =
    "wait(timeout=None) -> Execution\n\n"
    "Blocks until the execution is final and returns it (self, updated).\n"
    "``timeout`` in seconds; None waits as long as it takes. Raises\n"
    "automate.Timeout if it is not final in time. Ctrl-C interrupts it\n"
    "(KeyboardInterrupt); the execution goes on. Other threads run meanwhile.";

}  // namespace

py::object MakeExecution(std::shared_ptr<EngineHandle> handle, v1::Execution execution) {
  return py::cast(ExecutionObject{std::move(handle), std::move(execution)});
}

py::object MakeExecution(std::shared_ptr<EngineHandle> handle, v1::Execution** snapshot) {
  py::object object = py::cast(ExecutionObject{std::move(handle), v1::Execution()});
  *snapshot = &object.cast<ExecutionObject&>().exec;
  return object;
}

void RegisterExecutions(py::module_& m) {
  RegisterAttempt(m);
  py::class_<ExecutionObject> cls(
      m, "Execution",
      "One run of a job: a snapshot of its record, plus the engine it belongs to.\n\n"
      "Attributes read the snapshot; ``refresh()`` and ``wait()`` update it.\n"
      "States: 'pending', 'queued', 'running', then one of the final states\n"
      "'succeeded', 'failed', 'cancelled', 'timed_out' (automate.FINAL_STATES).");
  cls
      .def_property_readonly(
          "id", [](const ExecutionObject& e) { return e.exec.id(); },
          "The execution's id, a ULID (ids sort by creation time).")
      .def_property_readonly(
          "job", [](const ExecutionObject& e) { return e.exec.job(); }, "The job's name.")
      .def_property_readonly(
          "job_version", [](const ExecutionObject& e) { return e.exec.job_version(); },
          "The version of the job it runs.")
      .def_property_readonly(
          "state", [](const ExecutionObject& e) { return StateName(e.exec.state()); },
          "'pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled' or "
          "'timed_out'.")
      .def_property_readonly(
          "done", [](const ExecutionObject& e) { return IsFinal(e.exec.state()); },
          "True once the state is final.")
      .def_property_readonly(
          "succeeded", [](const ExecutionObject& e) { return e.exec.state() == v1::SUCCEEDED; },
          "True if the state is 'succeeded'.")
      .def_property_readonly(
          "exit_code",
          [](const ExecutionObject& e) { return OptionalInt(e.exec.has_exit_code(), e.exec.exit_code()); },
          "The last attempt's exit code, or None.")
      .def_property_readonly(
          "error", [](const ExecutionObject& e) { return e.exec.error(); },
          "Why it failed, for failed states ('' otherwise).")
      .def_property_readonly(
          "attempts",
          [](const ExecutionObject& e) {
            py::list attempts;
            for (const v1::Attempt& a : e.exec.attempts()) attempts.append(AttemptObject{a});
            return attempts;
          },
          "Its attempts so far (list of Attempt), first to last.")
      .def_property_readonly(
          "args",
          [](const ExecutionObject& e) {
            py::dict args;
            for (const auto& [k, v] : e.exec.args()) args[py::str(k)] = v;
            return args;
          },
          "Its arguments after defaults (dict of str; never secret values).")
      .def_property_readonly(
          "requested_by", [](const ExecutionObject& e) { return e.exec.requested_by(); },
          "Who asked: $USER for an embedded engine, the token's name on a server.")
      .def_property_readonly(
          "trigger", [](const ExecutionObject& e) { return TriggerText(e.exec.trigger()); },
          "Why it runs: 'manual', or 'schedule:NAME' and the like.")
      .def_property_readonly(
          "priority", [](const ExecutionObject& e) { return e.exec.priority(); },
          "Its priority (higher runs first).")
      .def_property_readonly(
          "create_time",
          [](const ExecutionObject& e) { return ToDatetime(e.exec.create_time(), e.exec.has_create_time()); },
          "When it was submitted (UTC datetime).")
      .def_property_readonly(
          "start_time",
          [](const ExecutionObject& e) { return ToDatetime(e.exec.start_time(), e.exec.has_start_time()); },
          "When its first attempt started (UTC datetime), or None.")
      .def_property_readonly(
          "end_time",
          [](const ExecutionObject& e) { return ToDatetime(e.exec.end_time(), e.exec.has_end_time()); },
          "When it ended (UTC datetime), or None.")
      .def_property_readonly(
          "duration",
          [](const ExecutionObject& e) {
            return Seconds(e.exec.start_time(), e.exec.has_start_time(), e.exec.end_time(),
                           e.exec.has_end_time());
          },
          "Seconds from its start to its end, or None while it has not both.")
      .def_property_readonly(
          "log_bytes", [](const ExecutionObject& e) { return e.exec.log_bytes(); },
          "Bytes in its log so far.")
      .def_property_readonly(
          "cancel_requested", [](const ExecutionObject& e) { return e.exec.cancel_requested(); },
          "True once someone asked to cancel it.")
      .def_property_readonly(
          "job_spec", [](const ExecutionObject& e) { return MessageToDict(e.exec.job_spec()); },
          "The job definition it runs (a snapshot), as a dict.")
      .def("refresh", &ExecutionObject::Refresh, py::return_value_policy::reference_internal,
           "refresh() -> Execution\n\nReads the execution again and returns it (self, updated).")
      .def("cancel", &ExecutionObject::Cancel,
           "cancel() -> None\n\n"
           "Cancels it: a queued execution at once; a running one is stopped\n"
           "(SIGTERM to its process group, SIGKILL after the grace period). Call\n"
           "wait() to see it end. Raises automate.Conflict if it is already final.")
      .def(
          "logs",
          [](const ExecutionObject& e, bool follow, int64_t offset) {
            return OpenLogStream(e.handle, e.exec.id(), offset, follow);
          },
          py::arg("follow") = false, py::arg("offset") = 0,
          "logs(follow=False, offset=0) -> LogStream\n\n"
          "Its log from byte ``offset``, as an iterator of LogRecord (``stream``,\n"
          "``offset``, ``data``); ``.lines()`` iterates text lines instead. With\n"
          "``follow`` it goes on until the execution is final. Read lazily, about\n"
          "1 MiB at a time, so any size fits in bounded memory. Ctrl-C interrupts a\n"
          "follow.")
      .def(
          "to_dict", [](const ExecutionObject& e) { return MessageToDict(e.exec); },
          "to_dict() -> dict\n\n"
          "The snapshot in the API's JSON form (lowerCamelCase keys), as a dict: what\n"
          "``automate status ID -o json`` prints.")
      .def(
          "__repr__",
          [](const ExecutionObject& e) {
            return absl::StrCat("<automate.Execution ", e.exec.id(), " job=", e.exec.job(),
                                " state=", StateName(e.exec.state()), ">");
          },
          "The execution's id, job and state.");
  AddRawMethod(cls, "wait", &RawWait, kWaitDoc);
}

}  // namespace automate::python
