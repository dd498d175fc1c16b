#include "executor/local/observer_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executor/local/local_attempt.h"

namespace automate::internal {
namespace {

constexpr size_t kReadSize = 64 * 1024;
constexpr int kMaxEvents = 64;
constexpr uint64_t kWakeTag = 0;  // No attempt has address 0.

absl::Status ErrnoError(int err, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("local: ", what, ": ", strerror(err)));
}

int ToEpollTimeout(absl::Time deadline, absl::Time now) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - now;
  if (left <= absl::ZeroDuration()) return 0;
  // Round up, so that we never wake just before the deadline and spin.
  int64_t ms = absl::ToInt64Milliseconds(left) + 1;
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ObserverLoop>> ObserverLoop::Create(FinishedCallback on_finished) {
  UniqueFd epoll_fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd.valid()) return ErrnoError(errno, "epoll_create1");
  UniqueFd wake_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) return ErrnoError(errno, "eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, wake_fd.get(), &event) != 0) {
    return ErrnoError(errno, "epoll_ctl");
  }
  std::unique_ptr<ObserverLoop> loop(
      new ObserverLoop(std::move(epoll_fd), std::move(wake_fd), std::move(on_finished)));
  // pthread_create rather than std::thread: it reports failure as a value.
  int err = pthread_create(&loop->thread_, nullptr, &ObserverLoop::ThreadMain, loop.get());
  if (err != 0) {
    loop->joined_ = true;  // Nothing to stop.
    return ErrnoError(err, "cannot start a thread");
  }
  return loop;
}

ObserverLoop::ObserverLoop(UniqueFd epoll_fd, UniqueFd wake_fd, FinishedCallback on_finished)
    : epoll_fd_(std::move(epoll_fd)),
      wake_fd_(std::move(wake_fd)),
      on_finished_(std::move(on_finished)),
      buffer_(new char[kReadSize]) {}

ObserverLoop::~ObserverLoop() { Stop(); }

absl::Status ObserverLoop::Add(const std::vector<Watched>& fds) {
  {
    absl::MutexLock lock(&mu_);
    ++attempts_;
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = fds[i].tag;
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fds[i].fd, &event) == 0) continue;
    int err = errno;
    for (size_t j = 0; j < i; ++j) Unwatch(fds[j].fd);
    absl::MutexLock lock(&mu_);
    --attempts_;
    return ErrnoError(err, "epoll_ctl");
  }
  return absl::OkStatus();
}

void ObserverLoop::Unwatch(int fd) { epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void ObserverLoop::Poke(LocalAttempt* attempt) {
  absl::MutexLock lock(&mu_);
  poked_.insert(attempt);
  Wake();
}

void ObserverLoop::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_.get(), &one, sizeof(one));
}

void ObserverLoop::Stop() {
  if (joined_) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    Wake();
  }
  pthread_join(thread_, nullptr);
  joined_ = true;
}

void* ObserverLoop::ThreadMain(void* self) {
  pthread_setname_np(pthread_self(), "automate-local");
  static_cast<ObserverLoop*>(self)->Run();
  return nullptr;
}

void ObserverLoop::Run() {
  epoll_event events[kMaxEvents];
  std::vector<LocalAttempt*> poked;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ && attempts_ == 0) return;
      poked.assign(poked_.begin(), poked_.end());
    }
    absl::Time next = absl::InfiniteFuture();
    for (LocalAttempt* attempt : poked) next = std::min(next, attempt->NextDeadline());
    int n = epoll_wait(epoll_fd_.get(), events, kMaxEvents, ToEpollTimeout(next, absl::Now()));
    // Other errors cannot happen with a valid epoll descriptor; looking at
    // the attempts again is better than giving up on them.
    if (n < 0) n = 0;
    bool exits = false;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t count;
        (void)!read(wake_fd_.get(), &count, sizeof(count));
        continue;
      }
      auto* attempt = reinterpret_cast<LocalAttempt*>(tag & ~LocalAttempt::kSourceMask);
      auto source = static_cast<LocalAttempt::Source>(tag & LocalAttempt::kSourceMask);
      if (attempt->OnEvent(source, buffer_.get(), kReadSize)) {
        absl::MutexLock lock(&mu_);
        poked_.insert(attempt);
        exits = true;
      }
    }
    // Every attempt of this batch that exited, and every cancelled one.
    if (n > 0 && !exits && poked.empty()) continue;
    {
      absl::MutexLock lock(&mu_);
      poked.assign(poked_.begin(), poked_.end());
    }
    absl::Time now = absl::Now();
    for (LocalAttempt* attempt : poked) {
      if (!attempt->Tick(now)) continue;
      {
        absl::MutexLock lock(&mu_);
        poked_.erase(attempt);
        --attempts_;
      }
      on_finished_(attempt);
    }
  }
}

}  // namespace automate::internal
