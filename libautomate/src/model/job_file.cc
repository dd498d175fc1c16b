// ParseJobFile and LoadJobFile: YAML (or JSON, which is YAML) to JobSpecs.
// yaml-cpp reports problems by throwing; they are caught here and never leave.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "automate/job.h"
#include "model/field_error.h"
#include "model/job_decoder.h"
#include "model/job_validation.h"
#include "yaml-cpp/yaml.h"

namespace automate {
namespace {

using internal::FieldError;

// Decodes and checks one document, adding its errors to `errors`.
// `name_line`: the line of its name field, for duplicate names.
v1::JobSpec DecodeDocument(const YAML::Node& doc, std::vector<FieldError>* errors, int* name_line) {
  internal::JobDecoder decoder;
  v1::JobSpec spec = decoder.Decode(doc);
  std::vector<FieldError> found = decoder.errors();
  // A field that failed to decode is left unset; CheckJobSpec would only
  // repeat the problem ("name: required" after "name: must be a string").
  for (FieldError& e : internal::CheckJobSpec(spec)) {
    bool repeated = std::any_of(found.begin(), found.end(), [&](const FieldError& d) {
      return d.path != "" && internal::PathsOverlap(d.path, e.path);
    });
    if (repeated) continue;
    e.line = decoder.LineOf(e.path);
    found.push_back(std::move(e));
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const FieldError& a, const FieldError& b) { return a.line < b.line; });
  errors->insert(errors->end(), found.begin(), found.end());
  *name_line = decoder.LineOf("name");
  return spec;
}

// yaml-cpp throws for syntax errors, also from LoadAll, never while reading
// an already loaded node with the accessors the decoder uses.
absl::StatusOr<std::vector<YAML::Node>> LoadDocuments(absl::string_view content,
                                                      absl::string_view filename) {
  try {
    return YAML::LoadAll(std::string(content));
  } catch (const YAML::Exception& e) {
    FieldError error{"", absl::StrCat("invalid YAML: ", e.msg),
                     e.mark.is_null() ? 0 : e.mark.line + 1};
    return absl::InvalidArgumentError(internal::FormatFileError(filename, error));
  }
}

// Decodes every document; jobs with errors are left out of `specs`.
void DecodeAll(const std::vector<YAML::Node>& docs, std::vector<v1::JobSpec>* specs,
               std::vector<FieldError>* errors) {
  absl::flat_hash_map<std::string, int> first_line;  // job name -> line of its name
  for (const YAML::Node& doc : docs) {
    if (doc.IsNull()) continue;  // "---" at the start or end, or only comments
    size_t before = errors->size();
    int line = 0;
    v1::JobSpec spec = DecodeDocument(doc, errors, &line);
    auto [it, inserted] = first_line.emplace(spec.name(), line);
    if (!inserted && !spec.name().empty()) {
      errors->push_back(FieldError{
          "name",
          absl::StrCat("duplicate job name \"", spec.name(), "\" (first at line ", it->second, ")"),
          line});
    }
    if (errors->size() == before) specs->push_back(std::move(spec));
  }
}

}  // namespace

absl::StatusOr<std::vector<v1::JobSpec>> ParseJobFile(absl::string_view content,
                                                      absl::string_view filename) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadDocuments(content, filename);
  if (!docs.ok()) return docs.status();
  std::vector<v1::JobSpec> specs;
  std::vector<FieldError> errors;
  try {
    DecodeAll(*docs, &specs, &errors);
  } catch (const YAML::Exception& e) {
    // Not expected (see LoadDocuments), but a throw must not leave the library.
    errors.push_back(FieldError{"", absl::StrCat("invalid YAML: ", e.msg), 0});
  }
  if (!errors.empty()) {
    std::vector<std::string> lines;
    for (const FieldError& e : errors) lines.push_back(internal::FormatFileError(filename, e));
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }
  if (specs.empty()) return absl::InvalidArgumentError(absl::StrCat(filename, ": no jobs in file"));
  return specs;
}

absl::StatusOr<std::vector<v1::JobSpec>> LoadJobFile(const std::string& path) {
  if (path == "-") {
    std::string content(std::istreambuf_iterator<char>(std::cin), {});
    if (std::cin.bad()) return absl::UnavailableError("<stdin>: read failed");
    return ParseJobFile(content, "<stdin>");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return absl::ErrnoToStatus(errno, path);
  std::string content;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) content.append(buffer, n);
  int read_errno = std::ferror(file) ? errno : 0;
  std::fclose(file);
  // A directory opens fine on Linux and fails on the first read (EISDIR).
  if (read_errno != 0) return absl::ErrnoToStatus(read_errno, path);
  return ParseJobFile(content, path);
}

}  // namespace automate
