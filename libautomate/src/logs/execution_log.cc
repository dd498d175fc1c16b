#include "logs/execution_log.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "logs/file_log_store.h"
#include "logs/line_splitter.h"
#include "logs/live_buffer.h"
#include "logs/secret_masker.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

std::string FormatBytes(int64_t n) {
  if (n > 0 && n % (1 << 30) == 0) return absl::StrCat(n >> 30, " GiB");
  if (n > 0 && n % (1 << 20) == 0) return absl::StrCat(n >> 20, " MiB");
  if (n > 0 && n % (1 << 10) == 0) return absl::StrCat(n >> 10, " KiB");
  return absl::StrCat(n, " bytes");
}

// Reads one ExecutionLog: from the live ring while it still holds the
// reader's offset, from the stored file when the reader fell behind it.
class LiveLogReader : public LogReader {
 public:
  LiveLogReader(std::shared_ptr<LiveBuffer> live, LogStore* store, std::string id,
                int64_t offset, bool follow, Clock* clock)
      : live_(std::move(live)), store_(store), id_(std::move(id)), offset_(offset),
        follow_(follow), end_(follow ? INT64_MAX : live_->size()), clock_(clock) {}

  absl::StatusOr<size_t> Read(std::vector<LogChunk>* out, size_t max_bytes,
                              absl::Time deadline) override {
    if (!follow_ && offset_ >= end_) return absl::OutOfRangeError("log: end of stream");
    if (follow_) {
      switch (live_->AwaitData(offset_, deadline, clock_)) {
        case LiveBuffer::Wait::kTimeout: return 0;
        case LiveBuffer::Wait::kEnd: return absl::OutOfRangeError("log: end of stream");
        case LiveBuffer::Wait::kData: break;
      }
    }
    int64_t n = live_->CopyFrom(offset_, end_, max_bytes, out);
    if (n < 0) {
      AUTOMATE_ASSIGN_OR_RETURN(n, ReadFile(out, max_bytes));
    }
    if (n > 0) offset_ = out->back().offset + static_cast<int64_t>(out->back().data.size());
    return static_cast<size_t>(n);
  }

  int64_t offset() const override { return offset_; }

 private:
  absl::StatusOr<int64_t> ReadFile(std::vector<LogChunk>* out, size_t max_bytes) {
    if (file_ == nullptr) {
      AUTOMATE_ASSIGN_OR_RETURN(file_, store_->OpenReader(id_));
    }
    const size_t first = out->size();
    AUTOMATE_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(offset_, max_bytes, out));
    while (n > 0 && out->back().offset >= end_) {  // Not following: stop at end_.
      out->pop_back();
      --n;
    }
    if (n == 0 && out->size() == first) {
      return absl::InternalError(absl::StrCat("log: stored log of ", id_, " ends before ", offset_));
    }
    return static_cast<int64_t>(n);
  }

  const std::shared_ptr<LiveBuffer> live_;
  LogStore* const store_;
  const std::string id_;
  int64_t offset_;
  const bool follow_;
  const int64_t end_;
  Clock* const clock_;
  std::unique_ptr<LogFileReader> file_;
};

}  // namespace

class ExecutionLog::Impl {
 public:
  Impl(LogStore* store, std::string id, ExecutionLogOptions options,
       std::unique_ptr<LogWriter> writer)
      : store_(store), id_(std::move(id)), options_(std::move(options)),
        writer_(std::move(writer)), batch_writer_(dynamic_cast<BatchLogWriter*>(writer_.get())),
        live_(std::make_shared<LiveBuffer>(options_.live_buffer_bytes,
                                           writer_ != nullptr ? writer_->size() : 0)),
        secrets_(std::make_shared<SecretPatterns>(options_.secret_values)),
        splitters_{LineSplitter(options_.max_chunk_bytes), LineSplitter(options_.max_chunk_bytes)},
        size_(writer_ != nullptr ? writer_->size() : 0), counted_(size_) {}

  void Write(v1::LogStream stream, absl::string_view data, absl::Time source_time);
  void FlushStreams();
  void NotifyLimit();
  void WriteSystem(absl::string_view line);
  void SetSecretValues(std::vector<std::string> values) {
    auto patterns = std::make_shared<SecretPatterns>(values);
    absl::MutexLock lock(&mu_);
    secrets_ = std::move(patterns);
  }
  void StartAttempt() {
    absl::MutexLock lock(&mu_);
    truncated_ = false;
  }
  absl::Status Sync();
  absl::Status Close();
  int64_t size() const {
    absl::MutexLock lock(&mu_);
    return size_;
  }
  absl::Status status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  std::unique_ptr<LogReader> NewReader(int64_t offset, bool follow) {
    return std::make_unique<LiveLogReader>(live_, store_, id_, offset, follow, options_.clock);
  }

 private:
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddChunk(v1::LogStream stream, absl::string_view data, absl::Time time)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddToBatch(v1::LogStream stream, absl::string_view data, absl::Time time)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddSystemLine(absl::string_view line, absl::Time time) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Commit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Accepting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !closed_ && status_.ok(); }

  LogStore* const store_;
  const std::string id_;
  const ExecutionLogOptions options_;
  // Null until the first bytes of a new log (options_.new_log).
  std::unique_ptr<LogWriter> writer_ ABSL_GUARDED_BY(mu_);
  BatchLogWriter* batch_writer_ ABSL_GUARDED_BY(mu_);  // writer_, if it stores batches.
  const std::shared_ptr<LiveBuffer> live_;

  // Serializes the pipeline (masking state, splitting, offsets, the file).
  // Followers never take it: they wait on the LiveBuffer's own mutex.
  mutable absl::Mutex mu_;
  std::shared_ptr<const SecretPatterns> secrets_ ABSL_GUARDED_BY(mu_);
  StreamMasker maskers_[2] ABSL_GUARDED_BY(mu_);  // STDOUT, STDERR.
  LineSplitter splitters_[2] ABSL_GUARDED_BY(mu_);
  std::string masked_ ABSL_GUARDED_BY(mu_);  // Scratch, kept to reuse its memory.
  std::unique_ptr<LiveBatch> batch_ ABSL_GUARDED_BY(mu_);  // Chunks not yet committed.
  int64_t size_ ABSL_GUARDED_BY(mu_);     // Stored bytes.
  int64_t counted_ ABSL_GUARDED_BY(mu_);  // Bytes counted against the limit.
  bool truncated_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

void ExecutionLog::Impl::Write(v1::LogStream stream, absl::string_view data,
                               absl::Time source_time) {
  if (stream == v1::SYSTEM) {
    WriteSystem(data);
    return;
  }
  const absl::Time time =
      source_time == absl::InfinitePast() ? options_.clock->Now() : source_time;
  // The limit callback runs after the marker line is stored (so whatever the
  // engine does next, the log already says why) and outside our lock (so the
  // engine may take its own locks, in which it calls us).
  absl::Cleanup notify = [this] { NotifyLimit(); };
  absl::MutexLock lock(&mu_);
  if (!Accepting()) return;
  const int s = stream == v1::STDERR ? 1 : 0;
  const v1::LogStream tag = s == 1 ? v1::STDERR : v1::STDOUT;
  absl::string_view masked = data;
  if (!secrets_->empty()) {
    masked_.clear();
    maskers_[s].Process(*secrets_, data, &masked_);
    masked = masked_;
  }
  splitters_[s].Add(masked, time,
                    [&](absl::string_view c, absl::Time t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                      AddChunk(tag, c, t);
                    });
  Commit();
}

void ExecutionLog::Impl::FlushLocked() {
  const absl::Time now = options_.clock->Now();
  for (int s = 0; s < 2; ++s) {
    const v1::LogStream tag = s == 1 ? v1::STDERR : v1::STDOUT;
    auto emit = [&](absl::string_view c, absl::Time t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      AddChunk(tag, c, t);
    };
    masked_.clear();
    maskers_[s].Flush(*secrets_, &masked_);
    splitters_[s].Add(masked_, now, emit);
    splitters_[s].Flush(emit);
  }
  Commit();
}

void ExecutionLog::Impl::NotifyLimit() {
  bool fire;
  {
    absl::MutexLock lock(&mu_);
    fire = fail_pending_;
    fail_pending_ = false;
  }
  if (fire && options_.on_limit_exceeded) options_.on_limit_exceeded();
}

void ExecutionLog::Impl::FlushStreams() {
  absl::Cleanup notify = [this] { NotifyLimit(); };
  absl::MutexLock lock(&mu_);
  if (Accepting()) FlushLocked();
}

void ExecutionLog::Impl::WriteSystem(absl::string_view line) {
  absl::Cleanup notify = [this] { NotifyLimit(); };
  absl::MutexLock lock(&mu_);
  if (!Accepting()) return;
  FlushLocked();
  AddSystemLine(line, options_.clock->Now());
  Commit();
}

void ExecutionLog::Impl::AddSystemLine(absl::string_view line, absl::Time time) {
  std::string text;
  MaskAll(*secrets_, line, &text);
  if (text.empty() || text.back() != '\n') text.push_back('\n');
  LineSplitter splitter(options_.max_chunk_bytes);
  auto emit = [&](absl::string_view c, absl::Time t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    AddToBatch(v1::SYSTEM, c, t);
  };
  splitter.Add(text, time, emit);
  splitter.Flush(emit);
}

// Applies the log limit: the part of a chunk that fits is kept, then one
// marker line says what happened, and the rest of the attempt's output is
// dropped.
void ExecutionLog::Impl::AddChunk(v1::LogStream stream, absl::string_view data, absl::Time time) {
  if (truncated_) return;
  const int64_t limit = options_.limit_bytes;
  const auto len = static_cast<int64_t>(data.size());
  if (limit <= 0 || counted_ + len <= limit) {
    counted_ += len;
    AddToBatch(stream, data, time);
    return;
  }
  const int64_t fits = std::max<int64_t>(0, limit - counted_);
  if (fits > 0) AddToBatch(stream, data.substr(0, static_cast<size_t>(fits)), time);
  counted_ += fits;
  truncated_ = true;
  const bool fail = options_.limit_action == v1::LogLimit::FAIL;
  AddSystemLine(absl::StrCat("automate: log limit of ", FormatBytes(limit), " reached; ",
                             fail ? "failing the attempt" : "further output discarded"),
                time);
  if (fail) fail_pending_ = true;
}

void ExecutionLog::Impl::AddToBatch(v1::LogStream stream, absl::string_view data,
                                    absl::Time time) {
  if (batch_ == nullptr) {
    batch_ = std::make_unique<LiveBatch>();
    batch_->offset = batch_->end = size_;
  }
  batch_->chunks.push_back(LogChunk{batch_->end, time, stream, std::string(data)});
  batch_->end += static_cast<int64_t>(data.size());
  batch_->bytes += data.size() + sizeof(LogChunk);
}

// Stores the pending chunks with one write, then shows them to followers:
// whatever a follower can see is already in the file, so one that falls
// behind the ring can always read it from there.
void ExecutionLog::Impl::Commit() {
  if (batch_ == nullptr) return;
  std::unique_ptr<LiveBatch> batch = std::move(batch_);
  absl::Status s;
  if (writer_ == nullptr) {
    absl::StatusOr<std::unique_ptr<LogWriter>> opened = store_->OpenWriter(id_);
    if (!opened.ok()) {
      status_ = Annotate(opened.status(), absl::StrCat("log of ", id_));
      return;
    }
    writer_ = *std::move(opened);
    batch_writer_ = dynamic_cast<BatchLogWriter*>(writer_.get());
  }
  if (batch_writer_ != nullptr) {
    s = batch_writer_->AppendBatch(batch->chunks.data(), batch->chunks.size());
  } else {
    for (const LogChunk& c : batch->chunks) {
      s = writer_->Append(c);
      if (!s.ok()) break;
    }
  }
  if (!s.ok()) {
    status_ = Annotate(s, absl::StrCat("log of ", id_));
    return;
  }
  size_ = batch->end;
  live_->Publish(std::move(batch));
}

absl::Status ExecutionLog::Impl::Sync() {
  absl::MutexLock lock(&mu_);
  if (Accepting()) FlushLocked();
  if (!status_.ok()) return status_;
  return writer_ != nullptr ? writer_->Sync() : absl::OkStatus();
}

absl::Status ExecutionLog::Impl::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return status_;
  if (status_.ok()) FlushLocked();
  if (status_.ok() && writer_ != nullptr) status_ = writer_->Sync();
  closed_ = true;
  live_->Close();
  return status_;
}

absl::StatusOr<StoredOutput> ReadStoredOutput(LogStore* store, absl::string_view execution_id,
                                              int64_t from_offset) {
  AUTOMATE_ASSIGN_OR_RETURN(std::unique_ptr<LogFileReader> reader, store->OpenReader(execution_id));
  StoredOutput out;
  std::vector<LogChunk> chunks;
  for (int64_t offset = std::max<int64_t>(0, from_offset);;) {
    chunks.clear();
    AUTOMATE_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(offset, 1 << 20, &chunks));
    if (n == 0) return out;
    for (const LogChunk& c : chunks) {
      const auto size = static_cast<int64_t>(c.data.size());
      if (c.stream == v1::STDOUT) out.stdout_bytes += size;
      if (c.stream == v1::STDERR) out.stderr_bytes += size;
      if (c.stream != v1::SYSTEM) out.last_time = c.time;
      offset = c.offset + size;
    }
  }
}

absl::StatusOr<std::shared_ptr<ExecutionLog>> ExecutionLog::Open(LogStore* store,
                                                                 absl::string_view execution_id,
                                                                 ExecutionLogOptions options) {
  if (options.clock == nullptr) return absl::InvalidArgumentError("log: no clock");
  std::unique_ptr<LogWriter> writer;
  if (!options.new_log) {
    AUTOMATE_ASSIGN_OR_RETURN(writer, store->OpenWriter(execution_id));
  }
  auto impl = std::make_unique<Impl>(store, std::string(execution_id), std::move(options),
                                     std::move(writer));
  return std::shared_ptr<ExecutionLog>(new ExecutionLog(std::move(impl)));
}

ExecutionLog::ExecutionLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExecutionLog::~ExecutionLog() { impl_->Close().IgnoreError(); }

void ExecutionLog::Write(v1::LogStream stream, absl::string_view data, absl::Time source_time) {
  impl_->Write(stream, data, source_time);
}
void ExecutionLog::FlushStreams() { impl_->FlushStreams(); }
void ExecutionLog::WriteSystem(absl::string_view line) { impl_->WriteSystem(line); }
void ExecutionLog::SetSecretValues(std::vector<std::string> values) {
  impl_->SetSecretValues(std::move(values));
}
void ExecutionLog::StartAttempt() { impl_->StartAttempt(); }
absl::Status ExecutionLog::Sync() { return impl_->Sync(); }
absl::Status ExecutionLog::Close() { return impl_->Close(); }
int64_t ExecutionLog::size() const { return impl_->size(); }
absl::Status ExecutionLog::status() const { return impl_->status(); }
std::unique_ptr<LogReader> ExecutionLog::NewReader(int64_t offset, bool follow) {
  return impl_->NewReader(offset, follow);
}

}  // namespace automate::internal
