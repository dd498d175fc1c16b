// ThreadSanitizer annotations for Debian's (uninstrumented) Abseil mutex.
//
// Debian builds libabsl without -fsanitize=thread, so TSan cannot see the
// happens-before edges that absl::Mutex creates: its lock word is an atomic
// touched only inside the library. Linked into a TSan test executable (see
// tests/CMakeLists.txt; the executable exports these symbols, so they take
// precedence over libabsl_synchronization.so's, also for calls made inside
// Abseil, e.g. by absl::Notification), this file defines absl::Mutex's and
// absl::CondVar's entry points: each tells TSan what the call does to the
// mutex (the same __tsan_mutex_* annotations Abseil makes when it is itself
// built with TSan) and then calls the library's own function, found with
// dlsym(RTLD_NEXT).
//
// absl::Notification is annotated the same way: Notify() releases, and
// seeing it notified acquires.
//
// Between the pre_ and post_ annotations TSan ignores the thread's memory
// accesses, as it does inside an annotated mutex: this covers the Condition
// functions that Abseil evaluates, in the waiter or in the unlocking thread,
// while the mutex is held. Only writer locks are used with Await and
// CondVar::Wait in this project (no ReaderLock anywhere), which is what the
// annotations of those two assume.
#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

#define AUTOMATE_STR2(x) #x
#define AUTOMATE_STR(x) AUTOMATE_STR2(x)

// "Mutex4LockEv" -> "_ZN4absl7debian35Mutex4LockEv" (with "K" after "_ZN"
// for a const member function), for whatever inline namespace this Abseil
// uses.
template <typename Fn>
Fn Real(const char* tail, bool const_member = false) {
  const char* ns = AUTOMATE_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  char mangled[256];
  std::snprintf(mangled, sizeof mangled, "_ZN%s4absl%zu%s%s", const_member ? "K" : "",
                std::strlen(ns), ns, tail);
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found in Abseil: %s\n", mangled, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// Abseil's entry points call each other (AwaitWithTimeout calls
// AwaitWithDeadline, and so on); only the outermost call is annotated.
thread_local int depth = 0;

struct Nested {
  Nested() { ++depth; }
  ~Nested() { --depth; }
  Nested(const Nested&) = delete;
  Nested& operator=(const Nested&) = delete;
};

// The result of a call to a function returning void.
struct Unit {};

template <typename Call>
auto ValueOf(Call& call) {
  if constexpr (std::is_void_v<std::invoke_result_t<Call&>>) {
    call();
    return Unit{};
  } else {
    return call();
  }
}

// Runs call() between before() and after(result), unless this thread is
// already inside an annotated entry point: then call() alone.
template <typename Call, typename Before, typename After>
auto Around(Call call, Before before, After after) {
  if (depth > 0) return ValueOf(call);
  Nested nested;
  before();
  auto result = ValueOf(call);
  after(result);
  return result;
}

// A call that takes the mutex (Lock, LockWhen, TryLock...); with try_lock in
// `flags`, a false result means it did not.
template <typename Call>
auto Locking(void* mu, unsigned flags, Call call) {
  return Around(
      call, [&] { __tsan_mutex_pre_lock(mu, flags); },
      [&](const auto& result) {
        unsigned post = flags;
        if constexpr (std::is_same_v<std::decay_t<decltype(result)>, bool>) {
          if ((flags & __tsan_mutex_try_lock) != 0 && !result) post |= __tsan_mutex_try_lock_failed;
        }
        __tsan_mutex_post_lock(mu, post, 0);
      });
}

template <typename Call>
auto Unlocking(void* mu, unsigned flags, Call call) {
  return Around(
      call, [&] { __tsan_mutex_pre_unlock(mu, flags); },
      [&](const auto&) { __tsan_mutex_post_unlock(mu, flags); });
}

// A call that gives the (writer-held) mutex up and takes it back inside
// Abseil (Await, CondVar::Wait): released for TSan before it, re-acquired
// after.
template <typename Call>
auto ReleasedDuring(void* mu, Call call) {
  return Around(
      call, [&] { __tsan_mutex_pre_unlock(mu, 0); },
      [&](const auto&) {
        __tsan_mutex_post_unlock(mu, 0);
        __tsan_mutex_pre_lock(mu, 0);
        __tsan_mutex_post_lock(mu, 0, 0);
      });
}

}  // namespace

#define AUTOMATE_REAL(var, type, mangled) static const auto var = Real<type>(mangled)
#define AUTOMATE_REAL_CONST(var, type, mangled) \
  static const auto var = Real<type>(mangled, /*const_member=*/true)

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  AUTOMATE_REAL(real, void (*)(Mutex*), "5Mutex4LockEv");
  Locking(this, 0, [&] { real(this); });
}

void Mutex::ReaderLock() {
  AUTOMATE_REAL(real, void (*)(Mutex*), "5Mutex10ReaderLockEv");
  Locking(this, __tsan_mutex_read_lock, [&] { real(this); });
}

bool Mutex::TryLock() {
  AUTOMATE_REAL(real, bool (*)(Mutex*), "5Mutex7TryLockEv");
  return Locking(this, __tsan_mutex_try_lock, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  AUTOMATE_REAL(real, bool (*)(Mutex*), "5Mutex13ReaderTryLockEv");
  return Locking(this, __tsan_mutex_try_read_lock, [&] { return real(this); });
}

void Mutex::Unlock() {
  AUTOMATE_REAL(real, void (*)(Mutex*), "5Mutex6UnlockEv");
  Unlocking(this, 0, [&] { real(this); });
}

void Mutex::ReaderUnlock() {
  AUTOMATE_REAL(real, void (*)(Mutex*), "5Mutex12ReaderUnlockEv");
  Unlocking(this, __tsan_mutex_read_lock, [&] { real(this); });
}

void Mutex::LockWhen(const Condition& cond) {
  AUTOMATE_REAL(real, void (*)(Mutex*, const Condition&), "5Mutex8LockWhenERKNS0_9ConditionE");
  Locking(this, 0, [&] { real(this, cond); });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  AUTOMATE_REAL(real, bool (*)(Mutex*, const Condition&, Duration),
                "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, 0, [&] { return real(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  AUTOMATE_REAL(real, bool (*)(Mutex*, const Condition&, Time),
                "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, 0, [&] { return real(this, cond, deadline); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  AUTOMATE_REAL(real, void (*)(Mutex*, const Condition&),
                "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Locking(this, __tsan_mutex_read_lock, [&] { real(this, cond); });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  AUTOMATE_REAL(real, bool (*)(Mutex*, const Condition&, Duration),
                "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, __tsan_mutex_read_lock, [&] { return real(this, cond, timeout); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  AUTOMATE_REAL(real, bool (*)(Mutex*, const Condition&, Time),
                "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, __tsan_mutex_read_lock, [&] { return real(this, cond, deadline); });
}

void Mutex::Await(const Condition& cond) {
  AUTOMATE_REAL(real, void (*)(Mutex*, const Condition&), "5Mutex5AwaitERKNS0_9ConditionE");
  ReleasedDuring(this, [&] { real(this, cond); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  AUTOMATE_REAL(real, bool (*)(Mutex*, const Condition&, Duration),
                "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return ReleasedDuring(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  AUTOMATE_REAL(real, bool (*)(Mutex*, const Condition&, Time),
                "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return ReleasedDuring(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  AUTOMATE_REAL(real, void (*)(CondVar*, Mutex*), "7CondVar4WaitEPNS0_5MutexE");
  ReleasedDuring(mu, [&] { real(this, mu); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  AUTOMATE_REAL(real, bool (*)(CondVar*, Mutex*, Duration),
                "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return ReleasedDuring(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  AUTOMATE_REAL(real, bool (*)(CondVar*, Mutex*, Time),
                "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return ReleasedDuring(mu, [&] { return real(this, mu, deadline); });
}

// absl::Notification: Notify() releases its flag inside Abseil, where TSan
// does not see it; so it is released here for TSan first. HasBeenNotified()
// is inline (an instrumented acquire load of the same flag); the
// WaitForNotification*() calls that return true acquire it here.
void Notification::Notify() {
  AUTOMATE_REAL(real, void (*)(Notification*), "12Notification6NotifyEv");
  __tsan_release(&notified_yet_);
  real(this);
}

void Notification::WaitForNotification() const {
  AUTOMATE_REAL_CONST(real, void (*)(const Notification*), "12Notification19WaitForNotificationEv");
  real(this);
  __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  AUTOMATE_REAL_CONST(real, bool (*)(const Notification*, Duration),
                      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  AUTOMATE_REAL_CONST(real, bool (*)(const Notification*, Time),
                      "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // __SANITIZE_THREAD__
