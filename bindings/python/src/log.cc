// automate/log.h: an execution's log as a Python iterator of LogRecord, read
// lazily through a LogReader about 1 MiB at a time, plus a line iterator.
//
// A LogStream may be shared by Python threads: its reader and buffer are
// guarded by a mutex that is only ever waited for with the GIL released, so
// a reader blocked in a follow never holds up other threads.
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "automate/log.h"
#include "binding.h"

namespace automate::python {
namespace {

constexpr size_t kReadBytes = size_t{1} << 20;

struct LogRecordObject {
  LogChunk chunk;
};

std::string StreamName(v1::LogStream stream) {
  switch (stream) {
    case v1::STDOUT:
      return "stdout";
    case v1::STDERR:
      return "stderr";
    case v1::SYSTEM:
      return "system";
    default:
      return "unknown";
  }
}

class LogStreamObject {
 public:
  LogStreamObject(std::shared_ptr<EngineHandle> handle, std::shared_ptr<Engine> engine,
                  std::unique_ptr<LogReader> reader, std::string id, bool follow)
      : handle_(std::move(handle)),
        engine_(std::move(engine)),
        reader_(std::move(reader)),
        id_(std::move(id)),
        follow_(follow) {}

  ~LogStreamObject() {
    // A remote reader joins its connection thread, and this may hold the last
    // reference to a closed engine: neither needs the GIL, so let it go.
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      Reset();
    } else {
      Reset();
    }
  }

  // The next chunk, or nullopt at the end. REQUIRES: GIL held.
  std::optional<LogChunk> NextChunk() {
    // Fast path: the buffer has one, and no other thread is reading.
    {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (lock.owns_lock() && pos_ < buffer_.size()) return std::move(buffer_[pos_++]);
    }
    while (true) {
      std::optional<LogChunk> chunk;
      absl::Status error;
      bool ended = false;
      {
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mu_);
        chunk = TakeOrRead(&ended, &error);
      }
      if (chunk.has_value()) return chunk;
      if (!error.ok()) ThrowStatus(error);
      if (ended) return std::nullopt;
      // Follow mode and nothing new within the slice: let signal handlers run
      // (Ctrl-C), and stop if the engine was closed meanwhile.
      CheckSignals();
      if (handle_->closed()) {
        ThrowStatus(absl::FailedPreconditionError(
            absl::StrCat("the ", handle_->kind(), " is closed")));
      }
    }
  }

  py::object Next() {
    std::optional<LogChunk> chunk = NextChunk();
    if (!chunk.has_value()) throw py::stop_iteration();
    return py::cast(LogRecordObject{*std::move(chunk)});
  }

  int64_t offset() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    if (pos_ < buffer_.size()) return buffer_[pos_].offset;
    return reader_ != nullptr ? reader_->offset() : end_offset_;
  }

  void Close() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    if (reader_ != nullptr) end_offset_ = reader_->offset();
    done_ = true;
    buffer_.clear();
    pos_ = 0;
    reader_.reset();
  }

  const std::string& id() const { return id_; }
  bool follow() const { return follow_; }

 private:
  // REQUIRES: mu_ held, GIL released.
  std::optional<LogChunk> TakeOrRead(bool* ended, absl::Status* error) {
    if (pos_ < buffer_.size()) return std::move(buffer_[pos_++]);
    if (done_ || reader_ == nullptr) {
      *ended = true;
      return std::nullopt;
    }
    buffer_.clear();
    pos_ = 0;
    absl::StatusOr<size_t> n = reader_->Read(&buffer_, kReadBytes, absl::Now() + kWaitSlice);
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kOutOfRange) {
        done_ = true;
        *ended = true;
      } else {
        *error = n.status();
      }
      return std::nullopt;
    }
    if (pos_ < buffer_.size()) return std::move(buffer_[pos_++]);
    return std::nullopt;
  }

  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    reader_.reset();  // Before the engine it reads from.
    engine_.reset();
  }

  const std::shared_ptr<EngineHandle> handle_;
  std::mutex mu_;
  std::shared_ptr<Engine> engine_;     // Guarded by mu_. Outlives reader_.
  std::unique_ptr<LogReader> reader_;  // Guarded by mu_.
  std::vector<LogChunk> buffer_;       // Guarded by mu_: read, not yet returned.
  size_t pos_ = 0;                     // Guarded by mu_: next in buffer_.
  bool done_ = false;                  // Guarded by mu_.
  int64_t end_offset_ = 0;             // Guarded by mu_: offset() after Close().
  const std::string id_;
  const bool follow_;
};

// Text lines of a LogStream: chunks of each stream are joined and split at
// '\n' (a long line arrives in several chunks), then decoded as UTF-8.
class LinesObject {
 public:
  LinesObject(std::shared_ptr<LogStreamObject> stream, std::optional<v1::LogStream> only)
      : stream_(std::move(stream)), only_(only) {}

  py::str Next() {
    while (ready_.empty()) {
      if (ended_) throw py::stop_iteration();
      std::optional<LogChunk> chunk = stream_->NextChunk();
      if (!chunk.has_value()) {
        ended_ = true;
        for (auto& [stream, partial] : partial_) {  // A last line without '\n'.
          if (!partial.empty()) ready_.push_back(std::move(partial));
        }
        continue;
      }
      if (only_.has_value() && chunk->stream != *only_) continue;
      std::string& partial = partial_[chunk->stream];
      size_t start = 0;
      for (size_t nl; (nl = chunk->data.find('\n', start)) != std::string::npos; start = nl + 1) {
        partial.append(chunk->data, start, nl - start);
        ready_.push_back(std::move(partial));
        partial.clear();
      }
      partial.append(chunk->data, start, std::string::npos);
    }
    std::string line = std::move(ready_.front());
    ready_.pop_front();
    return DecodeText(line);
  }

 private:
  std::shared_ptr<LogStreamObject> stream_;
  std::optional<v1::LogStream> only_;
  std::map<int, std::string> partial_;
  std::deque<std::string> ready_;
  bool ended_ = false;
};

std::optional<v1::LogStream> ParseStreamFilter(const std::optional<std::string>& name) {
  if (!name.has_value()) return std::nullopt;
  if (*name == "stdout") return v1::STDOUT;
  if (*name == "stderr") return v1::STDERR;
  if (*name == "system") return v1::SYSTEM;
  ThrowStatus(absl::InvalidArgumentError(absl::StrCat(
      "stream: \"", *name, "\" is not one of stdout, stderr, system")));
}

}  // namespace

py::object OpenLogStream(std::shared_ptr<EngineHandle> handle, const std::string& id,
                         int64_t offset, bool follow) {
  std::shared_ptr<Engine> engine = handle->GetOrThrow();
  absl::StatusOr<std::unique_ptr<LogReader>> reader;
  {
    py::gil_scoped_release release;
    reader = engine->OpenLog(id, offset, follow);
  }
  if (!reader.ok()) {
    py::gil_scoped_release release;  // Maybe the last reference to a closed engine.
    engine.reset();
  }
  return py::cast(std::make_shared<LogStreamObject>(std::move(handle), std::move(engine),
                                                    ValueOrThrow(std::move(reader)), id, follow));
}

void RegisterLogs(py::module_& m) {
  py::class_<LogRecordObject>(
      m, "LogRecord",
      "A piece of an execution's log: a whole line (with its '\\n'), part of a\n"
      "long line, or the last bytes of a stream.")
      .def_property_readonly(
          "stream", [](const LogRecordObject& r) { return StreamName(r.chunk.stream); },
          "'stdout', 'stderr', or 'system' (lines the engine writes).")
      .def_property_readonly(
          "offset", [](const LogRecordObject& r) { return r.chunk.offset; },
          "Byte offset of data[0] in the execution's log (all streams together).")
      .def_property_readonly(
          "data", [](const LogRecordObject& r) { return py::bytes(r.chunk.data); },
          "The bytes, as written by the job (secrets masked).")
      .def_property_readonly(
          "text", [](const LogRecordObject& r) { return DecodeText(r.chunk.data); },
          "data decoded as UTF-8 (invalid bytes replaced).")
      .def_property_readonly(
          "time", [](const LogRecordObject& r) { return ToDatetime(r.chunk.time); },
          "When it was written (UTC datetime).")
      .def(
          "__repr__",
          [](const LogRecordObject& r) {
            return py::str("<automate.LogRecord {} @{} {!r}>")
                .format(StreamName(r.chunk.stream), r.chunk.offset, py::bytes(r.chunk.data));
          },
          "Stream, offset and data.");

  py::class_<LinesObject>(m, "LogLines",
                          "Iterator of an execution's log as text lines (str, without '\\n').")
      .def(
          "__iter__", [](py::object self) { return self; }, "Returns self.")
      .def("__next__", &LinesObject::Next, "__next__() -> str\n\nThe next line.");

  py::class_<LogStreamObject, std::shared_ptr<LogStreamObject>>(
      m, "LogStream",
      "Iterator over an execution's log records (LogRecord), from Execution.logs().\n\n"
      "Read lazily, about 1 MiB at a time. In follow mode it ends when the\n"
      "execution is final and everything was read. Usable as a context manager;\n"
      "close() drops the reader early.")
      .def(
          "__iter__", [](py::object self) { return self; }, "Returns self.")
      .def("__next__", &LogStreamObject::Next, "__next__() -> LogRecord\n\nThe next record.")
      .def(
          "lines",
          [](std::shared_ptr<LogStreamObject> self, std::optional<std::string> stream) {
            return LinesObject(std::move(self), ParseStreamFilter(stream));
          },
          py::arg("stream") = py::none(),
          "lines(stream=None) -> Iterator[str]\n\n"
          "The rest of the log as text lines without their '\\n' (UTF-8, invalid\n"
          "bytes replaced); pieces of a long line are joined. ``stream``: only\n"
          "'stdout', 'stderr' or 'system' lines; None: all, in log order.")
      .def_property_readonly("offset", &LogStreamObject::offset,
                             "Offset of the next byte this stream returns (to resume later).")
      .def_property_readonly(
          "execution_id", [](const LogStreamObject& s) { return s.id(); },
          "The execution whose log this is.")
      .def_property_readonly(
          "follow", [](const LogStreamObject& s) { return s.follow(); },
          "True if it follows the log until the execution ends.")
      .def("close", &LogStreamObject::Close,
           "close() -> None\n\nStops reading; the iterator then ends.")
      .def(
          "__enter__", [](py::object self) { return self; }, "Returns self.")
      .def(
          "__exit__",
          [](LogStreamObject& s, py::args) {
            s.Close();
            return false;
          },
          "Closes the stream.")
      .def(
          "__repr__",
          [](const LogStreamObject& s) {
            return absl::StrCat("<automate.LogStream of ", s.id(), s.follow() ? " (follow)" : "",
                                ">");
          },
          "The execution id.");
}

}  // namespace automate::python
