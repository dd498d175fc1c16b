// automate/job.h: job specs from Python values (through libautomate's own
// job file parser: a dict is written as JSON, which is YAML, and parsed like
// a file), and the Job, Param and Secret result objects.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "automate/job.h"
#include "binding.h"

namespace automate::python {
namespace {

struct JobObject {
  v1::Job job;
};
struct ParamObject {
  v1::Param param;
};
struct SecretObject {
  v1::SecretInfo secret;
};

// A dict is dumped with indent=2 so that the line numbers in errors point
// into json.dumps(spec, indent=2); "<dict>" stands for the file name.
std::vector<v1::JobSpec> ParseMapping(const py::handle& mapping, const std::string& name) {
  py::object dumps = py::module_::import("json").attr("dumps");
  std::string text = py::cast<std::string>(dumps(mapping, py::arg("indent") = 2));
  absl::StatusOr<std::vector<v1::JobSpec>> specs;
  {
    py::gil_scoped_release release;
    specs = ParseJobFile(text, name);
  }
  return ValueOrThrow(std::move(specs));
}

std::vector<v1::JobSpec> ParseText(const std::string& text) {
  absl::StatusOr<std::vector<v1::JobSpec>> specs;
  {
    py::gil_scoped_release release;
    specs = ParseJobFile(text, "<string>");
  }
  return ValueOrThrow(std::move(specs));
}

std::vector<v1::JobSpec> LoadPath(const std::string& path) {
  absl::StatusOr<std::vector<v1::JobSpec>> specs;
  {
    py::gil_scoped_release release;
    specs = LoadJobFile(path);
  }
  return ValueOrThrow(std::move(specs));
}

// A str is job file text if it has a line break, or if it names no existing
// file and looks like a one-line YAML/JSON mapping; otherwise it is a path.
bool LooksLikeText(const std::string& s) {
  if (s.find('\n') != std::string::npos) return true;
  py::object exists = py::module_::import("os.path").attr("exists");
  if (py::cast<bool>(exists(s))) return false;
  size_t first = s.find_first_not_of(" \t");
  return (first != std::string::npos && s[first] == '{') || s.find(": ") != std::string::npos;
}

}  // namespace

std::vector<v1::JobSpec> SpecsFromPython(const py::handle& spec) {
  py::module_ abc = py::module_::import("collections.abc");
  py::module_ os = py::module_::import("os");
  if (py::isinstance(spec, abc.attr("Mapping"))) return ParseMapping(spec, "<dict>");
  if (py::isinstance<py::str>(spec)) {
    std::string s = py::cast<std::string>(spec);
    return LooksLikeText(s) ? ParseText(s) : LoadPath(s);
  }
  if (py::isinstance<py::bytes>(spec)) return ParseText(py::cast<std::string>(spec));
  if (py::isinstance(spec, os.attr("PathLike"))) {
    return LoadPath(py::cast<std::string>(os.attr("fsdecode")(spec)));
  }
  if (py::isinstance<py::list>(spec) || py::isinstance<py::tuple>(spec)) {
    std::vector<v1::JobSpec> all;
    size_t i = 0;
    for (py::handle item : spec) {
      std::vector<v1::JobSpec> specs =
          py::isinstance(item, abc.attr("Mapping"))
              ? ParseMapping(item, absl::StrCat("<dict ", i, ">"))
              : SpecsFromPython(item);
      all.insert(all.end(), std::make_move_iterator(specs.begin()),
                 std::make_move_iterator(specs.end()));
      ++i;
    }
    if (all.empty()) ThrowStatus(absl::InvalidArgumentError("apply: no job specs given"));
    return all;
  }
  throw py::type_error(absl::StrCat(
      "apply() takes a dict, a list of dicts, YAML/JSON text or a path, not ",
      py::cast<std::string>(py::str(py::type::of(spec).attr("__name__")))));
}

py::object MakeJob(v1::Job job) { return py::cast(JobObject{std::move(job)}); }
py::object MakeSecret(v1::SecretInfo secret) { return py::cast(SecretObject{std::move(secret)}); }

void RegisterJobs(py::module_& m) {
  py::class_<ParamObject>(m, "Param", "A job parameter: passed to the job as an environment variable.")
      .def_property_readonly(
          "name", [](const ParamObject& p) { return p.param.name(); },
          "The name, also the environment variable's.")
      .def_property_readonly(
          "description", [](const ParamObject& p) { return p.param.description(); },
          "What it is for.")
      .def_property_readonly(
          "required", [](const ParamObject& p) { return p.param.required(); },
          "True if every run must give it.")
      .def_property_readonly(
          "default",
          [](const ParamObject& p) -> py::object {
            if (!p.param.has_default_()) return py::none();
            return py::str(p.param.default_());
          },
          "The value used when a run does not give one, or None.")
      .def_property_readonly(
          "pattern", [](const ParamObject& p) { return p.param.pattern(); },
          "ECMAScript regular expression every value must match (whole); '' for any.")
      .def(
          "__repr__",
          [](const ParamObject& p) {
            return absl::StrCat("<automate.Param ", p.param.name(),
                                p.param.required() ? " required" : "", ">");
          },
          "The param's name and whether it is required.");

  py::class_<JobObject>(m, "Job",
                        "One version of a job definition, as stored by the engine.\n\n"
                        "Attributes mirror the job file (docs/job-file.md); ``spec`` and\n"
                        "``to_dict()`` give everything, in the API's JSON form.")
      .def_property_readonly(
          "name", [](const JobObject& j) { return j.job.spec().name(); }, "The job's name.")
      .def_property_readonly(
          "version", [](const JobObject& j) { return j.job.version(); },
          "1, 2, ...: grows with every change applied.")
      .def_property_readonly(
          "description", [](const JobObject& j) { return j.job.spec().description(); },
          "The job's description.")
      .def_property_readonly(
          "labels",
          [](const JobObject& j) {
            py::dict labels;
            for (const auto& [k, v] : j.job.spec().labels()) labels[py::str(k)] = v;
            return labels;
          },
          "Labels, as a dict of str.")
      .def_property_readonly(
          "params",
          [](const JobObject& j) {
            py::list params;
            for (const v1::Param& p : j.job.spec().params()) params.append(ParamObject{p});
            return params;
          },
          "The job's params (list of Param).")
      .def_property_readonly(
          "secrets",
          [](const JobObject& j) {
            return std::vector<std::string>(j.job.spec().secrets().begin(),
                                            j.job.spec().secrets().end());
          },
          "Names of the secrets the job gets in its environment.")
      .def_property_readonly(
          "executor", [](const JobObject& j) { return MessageToDict(j.job.spec().executor()); },
          "The executor section as a dict, e.g. {'local': {'command': [...]}}.")
      .def_property_readonly(
          "create_time",
          [](const JobObject& j) { return ToDatetime(j.job.create_time(), j.job.has_create_time()); },
          "When this version was stored (UTC datetime).")
      .def_property_readonly(
          "deleted", [](const JobObject& j) { return j.job.deleted(); },
          "True for a version of a job deleted since.")
      .def_property_readonly(
          "spec", [](const JobObject& j) { return MessageToDict(j.job.spec()); },
          "The whole spec as a dict (the API's JSON form: lowerCamelCase keys).")
      .def(
          "to_dict", [](const JobObject& j) { return MessageToDict(j.job); },
          "to_dict() -> dict\n\n"
          "The job as a dict: {'spec': {...}, 'version': ..., 'createTime': ...}, the\n"
          "form of ``automate describe -o json`` and of the HTTP API.")
      .def(
          "to_yaml", [](const JobObject& j) { return JobSpecToYaml(j.job.spec()); },
          "to_yaml() -> str\n\n"
          "The spec as a job file document, which apply() reads back to the same spec.")
      .def(
          "__repr__",
          [](const JobObject& j) {
            return absl::StrCat("<automate.Job ", j.job.spec().name(), " version ",
                                j.job.version(), ">");
          },
          "The job's name and version.");

  py::class_<SecretObject>(m, "Secret", "A secret's name and times; values are never shown.")
      .def_property_readonly(
          "name", [](const SecretObject& s) { return s.secret.name(); }, "The secret's name.")
      .def_property_readonly(
          "create_time",
          [](const SecretObject& s) {
            return ToDatetime(s.secret.create_time(), s.secret.has_create_time());
          },
          "When it was first set (UTC datetime).")
      .def_property_readonly(
          "update_time",
          [](const SecretObject& s) {
            return ToDatetime(s.secret.update_time(), s.secret.has_update_time());
          },
          "When it was last set (UTC datetime).")
      .def(
          "__repr__",
          [](const SecretObject& s) { return absl::StrCat("<automate.Secret ", s.secret.name(), ">"); },
          "The secret's name.");
}

}  // namespace automate::python
