// Embedding automate in a C++ service: open the embedded default engine on a
// state dir, apply a job file, run the job with an argument, follow its log
// and report how it ended. Written in C++17, the oldest standard the public
// headers support.
//
//   embed_example STATE_DIR JOB_FILE
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "automate/automate.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: embed_example STATE_DIR JOB_FILE\n";
    return 2;
  }
  absl::StatusOr<automate::EngineOptions> options = automate::DefaultEngineOptions(argv[1]);
  if (!options.ok()) {
    std::cerr << options.status() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<automate::Engine>> engine =
      automate::Engine::Open(std::move(*options));
  if (!engine.ok()) {
    std::cerr << engine.status() << "\n";
    return 1;
  }
  absl::StatusOr<std::vector<automate::v1::JobSpec>> jobs = automate::LoadJobFile(argv[2]);
  if (!jobs.ok()) {
    std::cerr << jobs.status() << "\n";
    return 1;
  }
  for (const automate::v1::JobSpec& spec : *jobs) {
    absl::StatusOr<automate::v1::Job> applied = (*engine)->ApplyJob(spec);
    if (!applied.ok()) {
      std::cerr << applied.status() << "\n";
      return 1;
    }
  }

  automate::SubmitRequest request;
  request.job = (*jobs)[0].name();
  request.requested_by = "embed_example";
  absl::StatusOr<automate::v1::Execution> execution = (*engine)->Submit(request);
  if (!execution.ok()) {
    std::cerr << execution.status() << "\n";
    return 1;
  }

  // Follow the log live until the execution ends.
  absl::StatusOr<std::unique_ptr<automate::LogReader>> reader =
      (*engine)->OpenLog(execution->id(), 0, /*follow=*/true);
  if (!reader.ok()) {
    std::cerr << reader.status() << "\n";
    return 1;
  }
  std::vector<automate::LogChunk> chunks;
  while (true) {
    chunks.clear();
    absl::StatusOr<size_t> n =
        (*reader)->Read(&chunks, 1 << 20, absl::Now() + absl::Seconds(5));
    if (!n.ok()) break;  // kOutOfRange: the execution ended and all was read.
    for (const automate::LogChunk& chunk : chunks) std::cout << chunk.data;
  }

  absl::StatusOr<automate::v1::Execution> done =
      (*engine)->Wait(execution->id(), absl::InfiniteFuture());
  if (!done.ok()) {
    std::cerr << done.status() << "\n";
    return 1;
  }
  std::cout << "execution " << done->id() << ": " << automate::StateName(done->state())
            << " after " << done->attempts_size() << " attempt(s)\n";
  return done->state() == automate::v1::SUCCEEDED ? 0 : 1;
}
