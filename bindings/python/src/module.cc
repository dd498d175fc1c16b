// automate._automate: the extension behind `import automate`. A thin layer
// over libautomate: every engine decision is the library's; this module only
// converts values, releases the GIL around blocking calls and maps statuses
// to exceptions (binding.h).
#include "binding.h"

#ifndef AUTOMATE_VERSION_STRING
#define AUTOMATE_VERSION_STRING "0"
#endif

PYBIND11_MODULE(_automate, m) {
  namespace py = pybind11;
  using namespace automate::python;
  // Every docstring starts with its own signature line, in Python terms;
  // pybind11's generated ones name C++-side types (automate._automate.X).
  py::options options;
  options.disable_function_signatures();
  m.doc() =
      "The extension module behind `import automate`; use the automate package.";
  RegisterErrors(m);
  RegisterJobs(m);
  RegisterLogs(m);
  RegisterExecutions(m);
  RegisterEngines(m);
  m.attr("__version__") = AUTOMATE_VERSION_STRING;
  py::set final_states;
  for (const char* state : {"succeeded", "failed", "cancelled", "timed_out"}) final_states.add(state);
  m.attr("FINAL_STATES") = py::module_::import("builtins").attr("frozenset")(final_states);
  // Engines still open at exit are shut down before the interpreter goes
  // away (their threads must not outlive it).
  py::module_::import("atexit").attr("register")(py::cpp_function(
      [] {
        py::gil_scoped_release release;
        CloseAllEngines();
      },
      py::name("_close_all_engines"), py::doc("Closes every Engine and Client still open.")));
}
