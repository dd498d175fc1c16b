// Who may do what in automated: bearer tokens, roles, groups, and the audit
// log of changes.
//
// A token's secret is "atk_<id>_<random>": <id> is "tk" and 10 lowercase
// base32 characters (the public part, shown by ListTokens and in messages),
// <random> 43 base64url characters of 32 bytes from RAND_bytes. Only the
// SHA-256 of the whole secret is stored; the secret is returned once, by
// CreateToken, and never appears in a message, a listing or the audit log.
//
// Caching: Authenticate runs on every HTTP request, so a token read from the
// store is kept in memory (by id: its hash, principal and revocation) for at
// most kCacheTtl. Consequences:
//   - RevokeToken on this Auth takes effect at once (it empties the cache).
//   - A revocation by anyone else on the same database (another process such
//     as `automated token revoke`, or another Auth) takes effect within
//     kCacheTtl.
//   - A wrong secret for a cached id is refused without touching the store;
//     an unknown id reads the store each time.
//
// Thread-safety: Auth is thread-safe. The Store and Clock are borrowed and
// must outlive it.
#ifndef AUTOMATED_AUTH_H_
#define AUTOMATED_AUTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/clock.h"
#include "automate/store.h"
#include "automate/v1/api.pb.h"
#include "automate/v1/job.pb.h"

namespace automated {

// The caller of a request, from its token.
struct Principal {
  std::string token_id;
  std::string name;  // The token's name: the audit log's actor.
  automate::v1::Role role = automate::v1::ROLE_UNSPECIFIED;
  std::vector<std::string> groups;
};

class Auth {
 public:
  // How long a token read from the store is trusted without reading it again:
  // the longest a revocation made elsewhere takes to apply here.
  static constexpr absl::Duration kCacheTtl = absl::Seconds(5);

  Auth(automate::Store* store, automate::Clock* clock);  // Both borrowed.

  // Validates the request, makes a fresh id and secret, and stores the token.
  // kInvalidArgument naming the field: "name" (1-63 characters of
  // [a-z0-9._-]; "cli" is reserved for local administration), "role"
  // (viewer, operator or admin), "groups[1]" (same rule as names, no
  // duplicates). kAlreadyExists if a live token has the name.
  absl::StatusOr<automate::v1::CreateTokenResponse> CreateToken(
      const automate::v1::CreateTokenRequest& request, absl::string_view created_by);
  // Every token, revoked ones included, oldest first.
  absl::StatusOr<std::vector<automate::v1::Token>> ListTokens();
  // By id, else by name. kNotFound; revoking twice is fine. Applies to this
  // Auth's Authenticate at once.
  absl::Status RevokeToken(absl::string_view id_or_name);

  // `authorization` is the Authorization header's value ("" when absent).
  // kUnauthenticated, with a message that says what is wrong, for: a missing
  // header, one that is not "Bearer <token>", a malformed token, an unknown
  // id, a wrong secret, a revoked token. Store failures keep their own code
  // (they are not the caller's fault). Secrets are compared as SHA-256 hashes
  // in constant time, and no message includes the token beyond its id.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization);

  // kPermissionDenied unless `who` has `at_least` or a higher role, e.g.
  // `token "ci" has role viewer; this needs operator`.
  static absl::Status RequireRole(const Principal& who, automate::v1::Role at_least);
  // Submitting or cancelling an execution of `job`: at least operator, and
  // when the job has allowed_groups, one of `who`'s groups must be among them
  // unless `who` is an admin. kPermissionDenied naming the job and groups.
  static absl::Status RequireRun(const Principal& who, const automate::v1::JobSpec& job);

  // Appends an audit entry stamped with the clock's time. The actor is
  // `who`'s name, or "cli" when null (local administration).
  absl::Status Audit(const Principal* who, absl::string_view action, absl::string_view target,
                     absl::string_view detail, int http_status);
  // The record Audit() stores, for a caller that stores it itself (a submit
  // stores it with its execution: SubmitRequest::audit).
  automate::v1::AuditEntry AuditEntryFor(const Principal* who, absl::string_view action,
                                         absl::string_view target, absl::string_view detail,
                                         int http_status);
  // Newest first; kInvalidArgument for a limit outside 1..1000 or a bad
  // page token.
  absl::StatusOr<automate::v1::ListAuditResponse> ListAudit(int limit,
                                                           absl::string_view page_token);

 private:
  struct CachedToken {
    std::string secret_hash;
    Principal principal;
    absl::Time revoke_time = absl::InfiniteFuture();  // InfiniteFuture: not revoked.
    absl::Time read_time;                             // When read from the store.
  };

  // Whether a presented secret with hash `hash` is accepted by `token`.
  static absl::StatusOr<Principal> Check(const CachedToken& token, absl::string_view hash);

  automate::Store* const store_;
  automate::Clock* const clock_;

  absl::Mutex mu_;
  // Tokens read from the store, by id; only ids that exist get in, so its
  // size is bounded by the number of tokens.
  absl::flat_hash_map<std::string, CachedToken> cache_ ABSL_GUARDED_BY(mu_);
  // Bumped by RevokeToken, so a store read that raced with a revocation is
  // not cached (it may predate it).
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace automated

#endif  // AUTOMATED_AUTH_H_
