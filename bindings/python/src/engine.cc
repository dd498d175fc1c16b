// automate/engine.h and automate/client.h: automate.Engine (an engine
// embedded in this process, on a state dir) and automate.Client (a client of
// an automated daemon), with the same methods from their base BaseEngine.
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "automate/client.h"
#include "automate/docker_executor.h"
#include "automate/execution.h"
#include "binding.h"

namespace automate::python {

// ---------------------------------------------------------------------------
// EngineHandle and the registry of open ones

namespace {

absl::Mutex g_registry_mu;
std::vector<std::weak_ptr<EngineHandle>>* g_registry ABSL_GUARDED_BY(g_registry_mu) =
    new std::vector<std::weak_ptr<EngineHandle>>;  // Never freed: used at exit.

void Register(const std::shared_ptr<EngineHandle>& handle) {
  absl::MutexLock lock(&g_registry_mu);
  std::erase_if(*g_registry, [](const std::weak_ptr<EngineHandle>& w) { return w.expired(); });
  g_registry->push_back(handle);
}

}  // namespace

EngineHandle::EngineHandle(std::shared_ptr<Engine> engine, std::string kind, std::string where)
    : kind_(std::move(kind)), where_(std::move(where)), engine_(std::move(engine)) {}

EngineHandle::~EngineHandle() {
  if (closed()) return;
  // Shutting down joins engine threads and stops running attempts; none of
  // that needs the GIL, so release it if this runs from a Python dealloc.
  if (Py_IsInitialized() && PyGILState_Check()) {
    py::gil_scoped_release release;
    Close();
  } else {
    Close();
  }
}

std::shared_ptr<Engine> EngineHandle::GetOrThrow() const {
  {
    absl::MutexLock lock(&mu_);
    if (engine_ != nullptr) return engine_;
  }
  ThrowStatus(absl::FailedPreconditionError(absl::StrCat("the ", kind_, " is closed")));
}

void EngineHandle::Close() {
  std::shared_ptr<Engine> engine;
  {
    absl::MutexLock lock(&mu_);
    engine = std::move(engine_);
    engine_ = nullptr;
  }
  if (engine == nullptr) return;
  engine->Shutdown();
  // Freed here unless a call in another thread, an Execution's wait or a
  // LogStream still holds it; then by the last of them.
}

void EngineHandle::Wrap(
    const std::function<std::shared_ptr<Engine>(std::shared_ptr<Engine>)>& wrap) {
  GetOrThrow();  // Raises if closed.
  absl::MutexLock lock(&mu_);
  if (engine_ == nullptr) return;
  std::shared_ptr<Engine> wrapped = wrap(engine_);  // If it throws, engine_ stays.
  engine_ = std::move(wrapped);
}

bool EngineHandle::closed() const {
  absl::MutexLock lock(&mu_);
  return engine_ == nullptr;
}

void CloseAllEngines() {
  std::vector<std::shared_ptr<EngineHandle>> open;
  {
    absl::MutexLock lock(&g_registry_mu);
    for (const auto& w : *g_registry) {
      if (auto h = w.lock()) open.push_back(std::move(h));
    }
    g_registry->clear();
  }
  for (const auto& h : open) h->Close();
}

namespace {

// ---------------------------------------------------------------------------
// Opening engines (GIL released)

struct LocalSettings {
  std::string state_dir;
  int max_running = 16;
  absl::Duration poll_interval = absl::Milliseconds(20);
  std::optional<std::string> docker_host;
  std::optional<bool> docker_tls_verify;
  std::optional<std::string> docker_cert_path;
};

absl::StatusOr<std::shared_ptr<Engine>> OpenLocalEngine(const LocalSettings& settings) {
  // One dispatching engine per state dir, like automated and the CLI's
  // background engine: the lock is held (by the engine's deleter) until the
  // engine is freed.
  absl::StatusOr<StateDirLock> locked = StateDirLock::Acquire(
      settings.state_dir,
      "stop it, use another state_dir, or use automate.Client to talk to a daemon");
  if (!locked.ok()) return locked.status();
  auto lock = std::make_shared<StateDirLock>(*std::move(locked));
  // As automated's --docker-* settings: unset ones come from DOCKER_*.
  DockerExecutorOptions docker;
  docker.host = settings.docker_host.value_or("");
  docker.tls_verify = settings.docker_tls_verify.value_or(false);
  docker.cert_path = settings.docker_cert_path.value_or("");
  absl::StatusOr<EngineOptions> options =
      DefaultEngineOptions(settings.state_dir, DockerOptionsFromEnvironment(std::move(docker)));
  if (!options.ok()) {
    // The API version has no Engine() argument: it comes from the environment.
    return NameDockerSetting(options.status(), "docker_host", "DOCKER_API_VERSION");
  }
  options->max_running = settings.max_running;
  options->poll_interval = settings.poll_interval;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(*std::move(options));
  if (!engine.ok()) return engine.status();
  return std::shared_ptr<Engine>(engine->release(), [lock](Engine* e) {
    delete e;
    lock->Release();  // The next engine may dispatch only once this one is gone.
  });
}

// ---------------------------------------------------------------------------
// The Python objects

struct EngineObject {
  std::shared_ptr<EngineHandle> handle;
};
struct LocalEngineObject : EngineObject {};
struct ClientObject : EngineObject {};

std::string Fspath(const py::handle& path) {
  return py::cast<std::string>(py::module_::import("os").attr("fsdecode")(path));
}

// A param value: str as is, int and float as str(), bool as "true"/"false".
std::string ArgValue(const std::string& name, const py::handle& value) {
  if (py::isinstance<py::str>(value)) return py::cast<std::string>(value);
  if (py::isinstance<py::bool_>(value)) return py::cast<bool>(value) ? "true" : "false";
  if (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)) {
    return py::cast<std::string>(py::str(value));
  }
  throw py::type_error(absl::StrCat("param ", name, ": expected str, int, float or bool, not ",
                                    py::cast<std::string>(py::type::of(value).attr("__name__"))));
}

// Adds param `name` = `value` to `args`; a second value for it is refused.
void AddArg(std::string name, const py::handle& value, std::map<std::string, std::string>* args) {
  std::string arg = ArgValue(name, value);
  if (!args->try_emplace(std::move(name), std::move(arg)).second) {  // `name` kept if so.
    throw py::type_error(absl::StrCat("run() got two values for param ", name));
  }
}

void AddArgs(const py::handle& mapping, std::map<std::string, std::string>* args) {
  py::dict dict(py::reinterpret_borrow<py::object>(mapping));  // Any mapping.
  for (auto item : dict) {
    if (!py::isinstance<py::str>(item.first)) throw py::type_error("param names must be str");
    AddArg(py::cast<std::string>(item.first), item.second, args);
  }
}

py::list Apply(EngineObject& self, const py::handle& spec) {
  std::vector<v1::JobSpec> specs = SpecsFromPython(spec);  // All parsed before any is applied.
  absl::StatusOr<std::vector<v1::Job>> jobs = self.handle->Call([&](Engine& e) {
    std::vector<v1::Job> applied;
    for (const v1::JobSpec& s : specs) {
      absl::StatusOr<v1::Job> job = e.ApplyJob(s);
      if (!job.ok()) return absl::StatusOr<std::vector<v1::Job>>(job.status());
      applied.push_back(*std::move(job));
    }
    return absl::StatusOr<std::vector<v1::Job>>(std::move(applied));
  });
  py::list result;
  for (v1::Job& job : ValueOrThrow(std::move(jobs))) result.append(MakeJob(std::move(job)));
  return result;
}

py::list JobList(std::vector<v1::Job> jobs) {
  py::list result;
  for (v1::Job& job : jobs) result.append(MakeJob(std::move(job)));
  return result;
}

// Who asked, for an embedded engine: $USER, as the CLI records it (a server
// uses the token's name instead).
std::string RequestedBy() {
  const char* user = std::getenv("USER");
  return user != nullptr ? user : "";
}

// Submits `request` and returns its Execution. REQUIRES: GIL held.
py::object Run(EngineObject& self, SubmitRequest& request) {
  request.requested_by = RequestedBy();
  v1::Execution* snapshot = nullptr;
  py::object execution = MakeExecution(self.handle, &snapshot);
  *snapshot = ValueOrThrow(self.handle->Call([&](Engine& e) { return e.Submit(request); }));
  return execution;
}

py::list RunMany(EngineObject& self, const std::string& job, const py::iterable& args_list,
                 int64_t job_version) {
  if (py::isinstance<py::str>(args_list) || py::isinstance<py::dict>(args_list)) {
    throw py::type_error("run_many(): args must be an iterable of mappings, one per execution");
  }
  std::vector<SubmitRequest> requests;
  const py::object mapping = py::module_::import("collections.abc").attr("Mapping");
  const std::string requested_by = RequestedBy();
  for (const py::handle& args : args_list) {
    if (!py::isinstance<py::dict>(args) && !py::isinstance(args, mapping)) {
      throw py::type_error(absl::StrCat("run_many(): args[", requests.size(),
                                        "]: expected a mapping of params, not ",
                                        py::cast<std::string>(py::type::of(args).attr("__name__"))));
    }
    SubmitRequest& request = requests.emplace_back();
    request.job = job;
    request.job_version = job_version;
    request.requested_by = requested_by;
    AddArgs(args, &request.args);
  }
  std::vector<v1::Execution> execs = ValueOrThrow(
      self.handle->Call([&](Engine& e) { return e.SubmitBatch(requests); }));
  py::list result;
  for (v1::Execution& exec : execs) result.append(MakeExecution(self.handle, std::move(exec)));
  return result;
}

py::list History(EngineObject& self, const std::optional<std::string>& job, int limit,
                 const std::optional<std::string>& state) {
  ExecutionFilter filter;
  filter.job = job.value_or("");
  filter.limit = limit;
  if (state.has_value()) filter.states = {ValueOrThrow(ParseStateName(*state))};
  absl::StatusOr<ExecutionPage> page = self.handle->Call([&](Engine& e) -> absl::StatusOr<ExecutionPage> {
    if (!filter.job.empty()) {
      // As `automate history JOB`: a job that never existed is NotFound, not
      // an empty list.
      if (absl::Status s = e.ListJobVersions(filter.job).status(); !s.ok()) return s;
    }
    return e.ListExecutions(filter);
  });
  py::list result;
  for (v1::Execution& exec : ValueOrThrow(std::move(page)).executions) {
    result.append(MakeExecution(self.handle, std::move(exec)));
  }
  return result;
}

std::string Repr(const EngineObject& self, const char* attr) {
  return absl::StrCat("<automate.", self.handle->kind(), " ", attr, "=",
                      py::cast<std::string>(py::repr(py::str(self.handle->where()))),
                      self.handle->closed() ? " (closed)" : "", ">");
}

void Close(EngineObject& self) {
  py::gil_scoped_release release;
  self.handle->Close();
}

// For bench/python_bench.py only: `n` Submit+Wait calls of `job` made from
// C++ on the same engine, GIL released, timed one by one (nanoseconds), so
// that the benchmark can interleave them with the same calls from Python
// in one process and see the binding's own cost without machine drift.
// `slice_ms` > 0 waits as Execution.wait() does, in slices of that many ms.
// `thread_cpu`: the calling thread's CPU time instead of wall time (what
// Python's time.thread_time_ns() measures).
int64_t BenchNow(bool thread_cpu) {
  if (!thread_cpu) return absl::GetCurrentTimeNanos();
  timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::vector<int64_t> BenchSubmitWait(EngineObject& self, const std::string& job, int n,
                                     int slice_ms, bool thread_cpu) {
  return ValueOrThrow(self.handle->Call([&](Engine& e) -> absl::StatusOr<std::vector<int64_t>> {
    SubmitRequest request;
    request.job = job;
    request.requested_by = RequestedBy();
    std::vector<int64_t> ns;
    for (int i = 0; i < n; ++i) {
      int64_t t0 = BenchNow(thread_cpu);
      absl::StatusOr<v1::Execution> exec = e.Submit(request);
      if (!exec.ok()) return exec.status();
      absl::StatusOr<v1::Execution> done;
      do {
        done = e.Wait(exec->id(), slice_ms > 0 ? absl::Now() + absl::Milliseconds(slice_ms)
                                               : absl::InfiniteFuture());
      } while (!done.ok() && done.status().code() == absl::StatusCode::kDeadlineExceeded);
      if (!done.ok()) return done.status();
      ns.push_back(BenchNow(thread_cpu) - t0);
    }
    return ns;
  }));
}

PyTypeObject* g_base_engine_type = nullptr;  // automate.BaseEngine; set by RegisterEngines.

// `object`, an Engine or a Client, as its EngineObject; TypeError if it is
// neither. pybind11's caster looks the C++ type up in its registries, about
// 1 us right after a blocking call (bench/README.md, Python bindings); but
// these instances keep the pointer to their value inline (pybind11's simple
// layout: one C++ type, no multiple inheritance), and that value's
// EngineObject is at the same address (standard layout, asserted below).
// Another layout goes through the caster.
EngineObject& EngineOf(PyObject* object) {
  static_assert(std::is_standard_layout_v<LocalEngineObject> && std::is_standard_layout_v<ClientObject>,
                "EngineOf() reads their EngineObject at their own address");
  if (!PyObject_TypeCheck(object, g_base_engine_type)) {
    throw py::type_error(absl::StrCat("expected an automate.Engine or automate.Client, not ",
                                      Py_TYPE(object)->tp_name));
  }
  auto* instance = reinterpret_cast<py::detail::instance*>(object);
  if (!instance->simple_layout) return py::handle(object).cast<EngineObject&>();
  void* value = instance->simple_value_holder[0];
  if (value == nullptr) {  // Made with __new__ alone.
    throw py::type_error(absl::StrCat(Py_TYPE(object)->tp_name, ".__init__() was not called"));
  }
  return *static_cast<EngineObject*>(value);
}

// For bench/python_bench.py only: one Submit+Wait of `job`, as a CPython
// METH_FASTCALL function (no pybind11 dispatch), returning None: the least a
// Python loop can do per submit+wait through any binding (one call into C,
// the GIL released while blocked), the floor engine.run().wait() is measured
// against.
PyObject* RawBenchSubmitWaitOne(PyObject*, PyObject* const* args, Py_ssize_t nargs,
                                PyObject* kwnames) {
  return CallRaw([&]() -> py::object {
    if (nargs != 2 || kwnames != nullptr || !PyUnicode_Check(args[1])) {
      throw py::type_error("_bench_submit_wait_one(engine, job: str)");
    }
    // The same C++ as one turn of the C++ loop (_bench_submit_wait).
    BenchSubmitWait(EngineOf(args[0]), py::cast<std::string>(py::handle(args[1])), 1, 0, false);
    return py::none();
  });
}

// Benchmark hook: forwards every call and adds the time spent in the wrapped
// engine to inside_ns(), so that what a Python call costs beyond the engine's
// own time (the binding's overhead) can be measured apart from the engine,
// whose time per submit+wait moves by far more than that from run to run.
// It also keeps, per successful Submit, the execution's id, when Submit was
// entered and when a Wait for it last returned (Unix ns), for the benchmark's
// timeline of each submit+wait (TakeTimeline).
class TimingEngine final : public Engine {
 public:
  struct Mark {
    std::string id;
    int64_t submit_ns = 0;
    int64_t wait_ns = 0;  // 0 until a Wait() for it returns it.
  };

  explicit TimingEngine(std::shared_ptr<Engine> inner) : inner_(std::move(inner)) {}
  int64_t inside_ns() const { return inside_ns_.load(std::memory_order_relaxed); }
  std::vector<Mark> TakeTimeline() {
    absl::MutexLock lock(&mu_);
    std::vector<Mark> marks;
    marks.swap(marks_);
    return marks;
  }

  absl::StatusOr<v1::Job> ApplyJob(const v1::JobSpec& spec) override {
    return Timed([&] { return inner_->ApplyJob(spec); });
  }
  absl::StatusOr<v1::Job> GetJob(absl::string_view name, int64_t version) override {
    return Timed([&] { return inner_->GetJob(name, version); });
  }
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override {
    return Timed([&] { return inner_->ListJobs(); });
  }
  absl::StatusOr<std::vector<v1::Job>> ListJobVersions(absl::string_view name) override {
    return Timed([&] { return inner_->ListJobVersions(name); });
  }
  absl::Status DeleteJob(absl::string_view name) override {
    return Timed([&] { return inner_->DeleteJob(name); });
  }
  absl::StatusOr<v1::Execution> Submit(const SubmitRequest& request) override {
    int64_t entered = absl::GetCurrentTimeNanos();
    absl::StatusOr<v1::Execution> exec = Timed([&] { return inner_->Submit(request); });
    if (exec.ok()) {
      absl::MutexLock lock(&mu_);
      marks_.push_back(Mark{exec->id(), entered, 0});
    }
    return exec;
  }
  absl::StatusOr<std::vector<v1::Execution>> SubmitBatch(
      const std::vector<SubmitRequest>& requests) override {
    return Timed([&] { return inner_->SubmitBatch(requests); });
  }
  absl::Status Cancel(absl::string_view id) override {
    return Timed([&] { return inner_->Cancel(id); });
  }
  absl::StatusOr<v1::Execution> GetExecution(absl::string_view id) override {
    return Timed([&] { return inner_->GetExecution(id); });
  }
  absl::StatusOr<ExecutionPage> ListExecutions(const ExecutionFilter& filter) override {
    return Timed([&] { return inner_->ListExecutions(filter); });
  }
  absl::StatusOr<v1::Execution> Wait(absl::string_view id, absl::Time deadline) override {
    absl::StatusOr<v1::Execution> exec = Timed([&] { return inner_->Wait(id, deadline); });
    if (exec.ok()) {
      int64_t returned = absl::GetCurrentTimeNanos();
      absl::MutexLock lock(&mu_);
      // Newest first: the one waited for is almost always the last submitted.
      for (auto it = marks_.rbegin(); it != marks_.rend(); ++it) {
        if (it->id == id) {
          it->wait_ns = returned;
          break;
        }
      }
    }
    return exec;
  }
  absl::StatusOr<std::unique_ptr<LogReader>> OpenLog(absl::string_view id, int64_t offset,
                                                     bool follow) override {
    return Timed([&] { return inner_->OpenLog(id, offset, follow); });
  }
  absl::Status SetSecret(absl::string_view name, absl::string_view value) override {
    return Timed([&] { return inner_->SetSecret(name, value); });
  }
  absl::Status DeleteSecret(absl::string_view name) override {
    return Timed([&] { return inner_->DeleteSecret(name); });
  }
  absl::StatusOr<std::vector<v1::SecretInfo>> ListSecrets() override {
    return Timed([&] { return inner_->ListSecrets(); });
  }
  int ActiveCount() override { return inner_->ActiveCount(); }
  void Shutdown() override { inner_->Shutdown(); }

 private:
  template <typename F>
  std::invoke_result_t<F&> Timed(F&& f) {
    int64_t start = absl::GetCurrentTimeNanos();
    auto result = std::forward<F>(f)();
    inside_ns_.fetch_add(absl::GetCurrentTimeNanos() - start, std::memory_order_relaxed);
    return result;
  }

  const std::shared_ptr<Engine> inner_;
  std::atomic<int64_t> inside_ns_{0};
  absl::Mutex mu_;
  std::vector<Mark> marks_ ABSL_GUARDED_BY(mu_);
};

// The TimingEngine in `self`, wrapped in on the first call; its inside_ns().
int64_t BenchInsideNs(EngineObject& self) {
  int64_t inside = self.handle->Call([](Engine& e) -> int64_t {
    auto* timing = dynamic_cast<TimingEngine*>(&e);
    return timing != nullptr ? timing->inside_ns() : -1;
  });
  if (inside >= 0) return inside;
  self.handle->Wrap([](std::shared_ptr<Engine> inner) -> std::shared_ptr<Engine> {
    return std::make_shared<TimingEngine>(std::move(inner));
  });
  return 0;
}

// The marks the TimingEngine in `self` has kept since the last call, as
// (id, submit_ns, wait_ns) tuples; raises if the engine is not wrapped.
py::list BenchTimeline(EngineObject& self) {
  std::optional<std::vector<TimingEngine::Mark>> marks =
      self.handle->Call([](Engine& e) -> std::optional<std::vector<TimingEngine::Mark>> {
        auto* timing = dynamic_cast<TimingEngine*>(&e);
        if (timing == nullptr) return std::nullopt;
        return timing->TakeTimeline();
      });
  if (!marks.has_value()) {
    throw py::value_error("_bench_timeline: wrap the engine with _bench_inside_ns first");
  }
  py::list result;
  for (const TimingEngine::Mark& m : *marks) result.append(py::make_tuple(m.id, m.submit_ns, m.wait_ns));
  return result;
}

// run(job, /, args=None, *, job_version=0, **params), with the CPython API
// (see CallRaw): the arguments as Python binds them, then Run(). A param
// given both in ``args`` and as a keyword is refused (AddArg).
PyObject* RawRun(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return CallRaw([&]() -> py::object {
    if (nargs < 1 || nargs > 2) {
      throw py::type_error(absl::StrCat(
          "run() takes 1 or 2 positional arguments (job, args) but ", nargs, " were given"));
    }
    if (!PyUnicode_Check(args[0])) throw py::type_error("run(): job must be a str");
    SubmitRequest request;
    request.job = py::cast<std::string>(py::handle(args[0]));
    PyObject* run_args = nargs == 2 ? args[1] : nullptr;
    Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < keywords; ++i) {
      std::string name = KeywordName(kwnames, i);
      PyObject* value = args[nargs + i];
      if (name == "args") {
        if (run_args != nullptr) throw py::type_error("run() got multiple values for argument 'args'");
        run_args = value;
      } else if (name == "job_version") {
        if (!PyLong_Check(value)) throw py::type_error("run(): job_version must be an int");
        request.job_version = py::cast<int64_t>(py::handle(value));
      } else {
        AddArg(std::move(name), value, &request.args);  // "job" too: it is positional-only.
      }
    }
    if (run_args != nullptr && run_args != Py_None) AddArgs(run_args, &request.args);
    return Run(EngineOf(self), request);
  });
}

constexpr char kRunDoc[] =
    "run(job, /, args=None, *, job_version=0, **params) -> Execution\n\n"
    "Starts an execution of ``job`` and returns it once it is durable.\n"
    "Params come as keywords (``run('backup', DATABASE='orders')``) and/or\n"
    "in the ``args`` dict (for names that are not identifiers or clash with\n"
    "``args``/``job_version``). Values: str, or int/float (str()), or bool\n"
    "('true'/'false'). ``job_version``: a past version (0: latest).\n"
    "automate.ValidationError for unknown, missing or invalid params;\n"
    "automate.NotFound for an unknown job; automate.Conflict if the job's\n"
    "concurrency policy is 'forbid' and it is at its limit.";

}  // namespace

void RegisterEngines(py::module_& m) {
  m.def("_bench_inside_ns", &BenchInsideNs, py::arg("engine"),
        "_bench_inside_ns(engine) -> int\n\n"
        "Benchmark hook (bench/python_bench.py): nanoseconds this engine's calls\n"
        "have spent inside libautomate's Engine so far. The first call wraps the\n"
        "engine in a timing layer and returns 0. Not part of the API.");
  m.def("_bench_timeline", &BenchTimeline, py::arg("engine"),
        "_bench_timeline(engine) -> list[tuple[str, int, int]]\n\n"
        "Benchmark hook (bench/python_bench.py): (id, submit_ns, wait_ns) of each\n"
        "Submit since the last call, on an engine wrapped by _bench_inside_ns (Unix\n"
        "ns when Submit was entered and when a Wait returned it; 0: not yet).\n"
        "Not part of the API.");
  m.def("_bench_submit_wait", &BenchSubmitWait, py::arg("engine"), py::arg("job"), py::arg("n"),
        py::arg("slice_ms") = 0, py::arg("thread_cpu") = false,
        "_bench_submit_wait(engine, job, n, slice_ms=0, thread_cpu=False) -> list[int]\n\n"
        "Benchmark hook (bench/python_bench.py): n Submit+Wait calls through the\n"
        "C++ API on this engine, each timed in nanoseconds. Not part of the API.");
  {
    static PyMethodDef def{"_bench_submit_wait_one", ToPyCFunction(&RawBenchSubmitWaitOne),
                           METH_FASTCALL | METH_KEYWORDS,
                           "_bench_submit_wait_one(engine, job) -> None\n\n"
                           "Benchmark hook (bench/python_bench.py): one Submit+Wait through the C++\n"
                           "API, called without pybind11's dispatch. Not part of the API."};
    py::object function = py::reinterpret_steal<py::object>(PyCFunction_NewEx(&def, nullptr, m.attr("__name__").ptr()));
    if (!function) throw py::error_already_set();
    m.add_object(def.ml_name, function);
  }
  m.def("default_state_dir", &automate::DefaultStateDir,
        "default_state_dir() -> str\n\n"
        "The state dir automate.Engine() and the automate CLI use by default:\n"
        "$AUTOMATE_STATE_DIR, else $XDG_DATA_HOME/automate, else\n"
        "~/.local/share/automate.");

  py::class_<EngineObject> base(
      m, "BaseEngine",
      "The methods automate.Engine and automate.Client share: a script moves from\n"
      "an embedded engine to a daemon by changing the line that makes one.\n\n"
      "Thread-safe; every call that may block releases the GIL. Usable as a\n"
      "context manager (close() at the end). Errors are automate.Error\n"
      "subclasses with the messages the automate CLI prints.");
  g_base_engine_type = reinterpret_cast<PyTypeObject*>(base.ptr());  // The module keeps it.
  base
      .def("apply", &Apply, py::arg("spec"),
           "apply(spec) -> list[Job]\n\n"
           "Creates or updates jobs and returns them, one per job document.\n"
           "``spec``: a dict (a job file document, e.g. {'name': 'hello',\n"
           "'executor': {'local': {'command': ['echo', 'hi']}}}), a list of dicts,\n"
           "YAML or JSON text (several documents separated by '---'), or a path\n"
           "(str or os.PathLike) of a job file. Everything is parsed and checked\n"
           "by libautomate's job file parser before any job is applied; errors\n"
           "(automate.ValidationError) name the source, line and field. A job that\n"
           "did not change keeps its version. docs/job-file.md has every field.")
      .def(
          "jobs",
          [](EngineObject& self) {
            return JobList(ValueOrThrow(self.handle->Call([](Engine& e) { return e.ListJobs(); })));
          },
          "jobs() -> list[Job]\n\nThe latest version of every job, by name.")
      .def(
          "job",
          [](EngineObject& self, const std::string& name, int64_t version) {
            return MakeJob(ValueOrThrow(
                self.handle->Call([&](Engine& e) { return e.GetJob(name, version); })));
          },
          py::arg("name"), py::arg("version") = 0,
          "job(name, version=0) -> Job\n\n"
          "A job's latest version, or version ``version``. automate.NotFound if\n"
          "there is none.")
      .def(
          "job_versions",
          [](EngineObject& self, const std::string& name) {
            return JobList(ValueOrThrow(
                self.handle->Call([&](Engine& e) { return e.ListJobVersions(name); })));
          },
          py::arg("name"),
          "job_versions(name) -> list[Job]\n\nEvery version of a job, oldest first.")
      .def(
          "delete_job",
          [](EngineObject& self, const std::string& name) {
            CheckOk(self.handle->Call([&](Engine& e) { return e.DeleteJob(name); }));
          },
          py::arg("name"),
          "delete_job(name) -> None\n\n"
          "Deletes a job; its versions and executions stay readable.")
      .def(
          "execution",
          [](EngineObject& self, const std::string& id) {
            return MakeExecution(self.handle, ValueOrThrow(self.handle->Call(
                                                  [&](Engine& e) { return e.GetExecution(id); })));
          },
          py::arg("id"),
          "execution(id) -> Execution\n\nAn execution by id. automate.NotFound if none.")
      .def("history", &History, py::arg("job") = py::none(), py::arg("limit") = 50,
           py::arg("state") = py::none(),
           "history(job=None, limit=50, state=None) -> list[Execution]\n\n"
           "Executions, newest first: of ``job`` only (automate.NotFound if it never\n"
           "existed), at most ``limit`` (1 to 1000), only in ``state`` ('running',\n"
           "'failed', ...) if given.")
      .def(
          "set_secret",
          [](EngineObject& self, const std::string& name, const std::string& value) {
            CheckOk(self.handle->Call([&](Engine& e) { return e.SetSecret(name, value); }));
          },
          py::arg("name"), py::arg("value"),
          "set_secret(name, value) -> None\n\n"
          "Sets a secret (str or bytes). Jobs that list it get it in their\n"
          "environment; it is masked as **** in everything stored or shown.")
      .def(
          "delete_secret",
          [](EngineObject& self, const std::string& name) {
            CheckOk(self.handle->Call([&](Engine& e) { return e.DeleteSecret(name); }));
          },
          py::arg("name"), "delete_secret(name) -> None\n\nRemoves a secret. automate.NotFound.")
      .def(
          "secrets",
          [](EngineObject& self) {
            py::list result;
            for (v1::SecretInfo& s :
                 ValueOrThrow(self.handle->Call([](Engine& e) { return e.ListSecrets(); }))) {
              result.append(MakeSecret(std::move(s)));
            }
            return result;
          },
          "secrets() -> list[Secret]\n\nSecret names and times (never values).")
      .def("close", &Close,
           "close() -> None\n\n"
           "Closes it. An Engine stops dispatching, stops its running attempts\n"
           "(their executions stay recorded; the next engine on the state dir\n"
           "reconciles them) and releases the state dir. Then every call on it,\n"
           "its executions and new log streams raises automate.Conflict. A\n"
           "LogStream opened before keeps reading what is stored, and keeps the\n"
           "engine's memory (and an Engine's state dir lock) until it is closed or\n"
           "freed. Idempotent; done at interpreter exit for whatever is still open.")
      .def_property_readonly(
          "closed", [](const EngineObject& self) { return self.handle->closed(); },
          "True once close() was called.")
      .def(
          "__enter__", [](py::object self) { return self; }, "Returns self.")
      .def(
          "__exit__",
          [](EngineObject& self, py::args) {
            Close(self);
            return false;
          },
          "Calls close().");
  AddRawMethod(base, "run", &RawRun, kRunDoc);
  base.def("run_many", &RunMany, py::arg("job"), py::arg("args"), py::pos_only(), py::kw_only(),
           py::arg("job_version") = 0,
           "run_many(job, args, /, *, job_version=0) -> list[Execution]\n\n"
           "Starts one execution of ``job`` per mapping of params in ``args``\n"
           "(e.g. ``[{'HOST': h} for h in hosts]``), all stored with one durable\n"
           "commit, or none: every one is checked before any is stored, and the\n"
           "first bad one raises the error run() would, its index in front of the\n"
           "message (``requests[3]: ...``). At most 1000 at once. Far cheaper than\n"
           "as many run() calls. The executions come back in the order of ``args``.\n"
           "automate.Client needs automated 0.4 (API version 2) or later.");

  py::class_<LocalEngineObject, EngineObject>(
      m, "Engine",
      "Engine(state_dir=None, *, max_running=16, poll_interval=0.02,\n"
      "       docker_host=None, docker_tls_verify=None, docker_cert_path=None)\n\n"
      "An automate engine embedded in this process, on a state dir (SQLite,\n"
      "logs, secrets), as the automate CLI and automated use it: jobs run here,\n"
      "as child processes (local executor) or containers (docker executor,\n"
      "configured from DOCKER_HOST etc. like the CLI, or from the docker_*\n"
      "arguments like automated's --docker-* flags).\n\n"
      "One engine dispatches a state dir at a time: automate.Conflict if\n"
      "automated or the CLI's background engine holds it. While this one does,\n"
      "the CLI on the same state dir works, as a client of it.\n\n"
      "Example::\n\n"
      "    with automate.Engine('/tmp/state') as engine:\n"
      "        engine.apply({'name': 'hello',\n"
      "                      'executor': {'local': {'command': ['echo', 'hi']}}})\n"
      "        ex = engine.run('hello').wait()\n"
      "        print(ex.state, [line for line in ex.logs().lines()])")
      .def(py::init([](const py::object& state_dir, int max_running, double poll_interval,
                       std::optional<std::string> docker_host,
                       std::optional<bool> docker_tls_verify,
                       const py::object& docker_cert_path) {
             LocalSettings settings;
             settings.state_dir = state_dir.is_none() ? automate::DefaultStateDir() : Fspath(state_dir);
             if (settings.state_dir.empty()) {
               ThrowStatus(absl::InvalidArgumentError("state_dir: must not be empty"));
             }
             settings.max_running = max_running;
             if (!(poll_interval > 0)) {
               ThrowStatus(absl::InvalidArgumentError("poll_interval: must be > 0"));
             }
             settings.poll_interval = absl::Seconds(poll_interval);
             settings.docker_host = std::move(docker_host);
             settings.docker_tls_verify = docker_tls_verify;
             if (!docker_cert_path.is_none()) settings.docker_cert_path = Fspath(docker_cert_path);
             absl::StatusOr<std::shared_ptr<Engine>> engine;
             {
               py::gil_scoped_release release;
               engine = OpenLocalEngine(settings);
             }
             auto object = std::make_unique<LocalEngineObject>();
             object->handle = std::make_shared<EngineHandle>(ValueOrThrow(std::move(engine)),
                                                             "Engine", settings.state_dir);
             Register(object->handle);
             return object;
           }),
           py::arg("state_dir") = py::none(), py::kw_only(), py::arg("max_running") = 16,
           py::arg("poll_interval") = 0.02, py::arg("docker_host") = py::none(),
           py::arg("docker_tls_verify") = py::none(), py::arg("docker_cert_path") = py::none(),
           "__init__(self, state_dir=None, *, max_running=16, poll_interval=0.02,\n"
           "         docker_host=None, docker_tls_verify=None, docker_cert_path=None)\n\n"
           "Opens the engine of ``state_dir`` (default: default_state_dir()),\n"
           "creating it if needed. ``max_running``: attempts running at once.\n"
           "``poll_interval`` (seconds): how often it picks up work that other\n"
           "processes (the CLI) write to the state dir.")
      .def_property_readonly(
          "state_dir", [](const LocalEngineObject& self) { return self.handle->where(); },
          "The state dir this engine runs.")
      .def(
          "__repr__", [](const LocalEngineObject& self) { return Repr(self, "state_dir"); },
          "The state dir, and whether it is closed.");

  py::class_<ClientObject, EngineObject>(
      m, "Client",
      "Client(server, token=None, *, timeout=30.0, ca_file=None)\n\n"
      "A client of an automated daemon over its HTTP API, with the same methods\n"
      "as automate.Engine: jobs run on the server. ``server``:\n"
      "'http(s)://HOST:PORT' (optionally with a path prefix); ``token``: a\n"
      "bearer token from `automated token create` (None: only public routes);\n"
      "``timeout`` (seconds) per request, and how long log followers and waits\n"
      "keep reconnecting to a server that went away; ``ca_file``: PEM CAs for\n"
      "https (default: the system's). Nothing is sent until the first call,\n"
      "which also checks the server's API version.\n\n"
      "Example::\n\n"
      "    client = automate.Client('https://automate.example:8420',\n"
      "                             os.environ['AUTOMATE_TOKEN'])\n"
      "    ex = client.run('db-backup', DATABASE='orders').wait()")
      .def(py::init([](const std::string& server, std::optional<std::string> token,
                       double timeout, const py::object& ca_file) {
             RemoteOptions options;
             options.server = server;
             options.token = token.value_or("");
             if (!(timeout > 0)) ThrowStatus(absl::InvalidArgumentError("timeout: must be > 0"));
             options.timeout = absl::Seconds(timeout);
             if (!ca_file.is_none()) options.ca_file = Fspath(ca_file);
             absl::StatusOr<std::unique_ptr<Engine>> engine;
             {
               py::gil_scoped_release release;
               engine = OpenRemoteEngine(std::move(options));
             }
             auto object = std::make_unique<ClientObject>();
             object->handle = std::make_shared<EngineHandle>(
                 std::shared_ptr<Engine>(ValueOrThrow(std::move(engine))), "Client", server);
             Register(object->handle);
             return object;
           }),
           py::arg("server"), py::arg("token") = py::none(), py::kw_only(),
           py::arg("timeout") = 30.0, py::arg("ca_file") = py::none(),
           "__init__(self, server, token=None, *, timeout=30.0, ca_file=None)\n\n"
           "Makes a client of the daemon at ``server``; see the class docstring.")
      .def_property_readonly(
          "server", [](const ClientObject& self) { return self.handle->where(); },
          "The server's URL.")
      .def(
          "__repr__", [](const ClientObject& self) { return Repr(self, "server"); },
          "The server, and whether it is closed.");
}

}  // namespace automate::python
