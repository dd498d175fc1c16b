#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"

namespace automated {
namespace {

using automate::v1::Role;
using google::protobuf::util::TimeUtil;

constexpr absl::string_view kSecretPrefix = "atk_";
constexpr absl::string_view kIdPrefix = "tk";
constexpr size_t kIdRandomChars = 10;
constexpr size_t kIdSize = kIdPrefix.size() + kIdRandomChars;
constexpr size_t kRandomBytes = 32;
constexpr size_t kRandomChars = 43;  // Unpadded base64url of 32 bytes.
constexpr size_t kSecretSize = kSecretPrefix.size() + kIdSize + 1 + kRandomChars;
constexpr size_t kHashSize = 32;  // SHA-256
constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
// The audit actor of local administration, so no token may be called that.
constexpr absl::string_view kCliActor = "cli";
constexpr char kNameRule[] = "must be 1-63 characters of a-z, 0-9, '-', '_' and '.'";

// The rule of automate::internal::IsGroupName (model/job_validation.h), which
// is internal to libautomate: token names and groups match job allowed_groups.
bool IsGroupName(absl::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool IsBase32(char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }
bool IsBase64Url(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

bool IsValidRole(Role role) { return role >= automate::v1::VIEWER && role <= automate::v1::ADMIN; }

std::string RoleName(Role role) {
  if (!IsValidRole(role)) return "unspecified";
  return absl::AsciiStrToLower(automate::v1::Role_Name(role));
}

// The id inside a well-formed secret, or "" if it is not one. Checks the
// whole shape, so garbage never reaches the store.
absl::string_view SecretId(absl::string_view secret) {
  if (secret.size() != kSecretSize || !absl::StartsWith(secret, kSecretPrefix)) return "";
  absl::string_view id = secret.substr(kSecretPrefix.size(), kIdSize);
  if (!absl::StartsWith(id, kIdPrefix) ||
      !std::all_of(id.begin() + kIdPrefix.size(), id.end(), IsBase32)) {
    return "";
  }
  absl::string_view rest = secret.substr(kSecretPrefix.size() + kIdSize);
  if (rest[0] != '_' || !std::all_of(rest.begin() + 1, rest.end(), IsBase64Url)) return "";
  return id;
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("token: RAND_bytes failed");
  }
  return out;
}

// Fetched once: an implicit fetch on every digest (what EVP_sha256() and
// SHA256() do in OpenSSL 3) takes a lock, and this runs on every request.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

absl::StatusOr<std::string> Sha256(absl::string_view data) {
  std::string hash(kHashSize, '\0');
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(hash.data()), &size,
                 Sha256Md(), nullptr) != 1 ||
      size != kHashSize) {
    return absl::InternalError("token: SHA-256 failed");
  }
  return hash;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Status ValidateRequest(const automate::v1::CreateTokenRequest& request) {
  if (!IsGroupName(request.name())) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", kNameRule));
  }
  if (request.name() == kCliActor) {
    return absl::InvalidArgumentError(
        "name: \"cli\" is reserved (the audit log's actor for local administration)");
  }
  if (!IsValidRole(request.role())) {
    return absl::InvalidArgumentError("role: must be viewer, operator or admin");
  }
  for (int i = 0; i < request.groups_size(); ++i) {
    if (!IsGroupName(request.groups(i))) {
      return absl::InvalidArgumentError(absl::StrCat("groups[", i, "]: ", kNameRule));
    }
    for (int j = 0; j < i; ++j) {
      if (request.groups(j) == request.groups(i)) {
        return absl::InvalidArgumentError(
            absl::StrCat("groups[", i, "]: duplicate group (also groups[", j, "])"));
      }
    }
  }
  return absl::OkStatus();
}

std::string GroupList(const std::vector<std::string>& groups) {
  return groups.empty() ? "none" : absl::StrJoin(groups, ", ");
}

}  // namespace

Auth::Auth(automate::Store* store, automate::Clock* clock) : store_(store), clock_(clock) {}

absl::StatusOr<automate::v1::CreateTokenResponse> Auth::CreateToken(
    const automate::v1::CreateTokenRequest& request, absl::string_view created_by) {
  if (absl::Status valid = ValidateRequest(request); !valid.ok()) return valid;
  absl::StatusOr<std::string> id_bytes = RandomBytes(kIdRandomChars);
  if (!id_bytes.ok()) return id_bytes.status();
  absl::StatusOr<std::string> random = RandomBytes(kRandomBytes);
  if (!random.ok()) return random.status();

  std::string id(kIdPrefix);
  // 32 divides 256, so the low 5 bits of a uniform byte are uniform.
  for (char b : *id_bytes) id += kBase32[static_cast<unsigned char>(b) & 31];
  automate::v1::CreateTokenResponse response;
  response.set_secret(absl::StrCat(kSecretPrefix, id, "_", absl::WebSafeBase64Escape(*random)));
  absl::StatusOr<std::string> hash = Sha256(response.secret());
  if (!hash.ok()) return hash.status();

  automate::v1::Token& token = *response.mutable_token();
  token.set_id(id);
  token.set_name(request.name());
  token.set_role(request.role());
  *token.mutable_groups() = request.groups();
  *token.mutable_create_time() = ToTimestamp(clock_->Now());
  token.set_created_by(std::string(created_by));
  // 50 random bits make an id collision (kAlreadyExists) practically
  // impossible, so it is reported rather than retried.
  if (absl::Status stored = store_->CreateToken(token, *hash); !stored.ok()) return stored;
  return response;
}

absl::StatusOr<std::vector<automate::v1::Token>> Auth::ListTokens() { return store_->ListTokens(); }

absl::Status Auth::RevokeToken(absl::string_view id_or_name) {
  absl::Status status = store_->RevokeToken(id_or_name, clock_->Now());
  // Dropping everything is simpler than finding the entry by id or name, and
  // revocations are rare: each token costs one store read afterwards.
  absl::MutexLock lock(&mu_);
  cache_.clear();
  ++generation_;
  return status;
}

absl::StatusOr<Principal> Auth::Check(const CachedToken& token, absl::string_view hash) {
  const std::string& id = token.principal.token_id;
  // Constant time, so response timing reveals nothing about the stored hash.
  if (hash.size() != token.secret_hash.size() ||
      CRYPTO_memcmp(hash.data(), token.secret_hash.data(), hash.size()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat("token ", id, ": wrong secret"));
  }
  // Only after the secret matched: revocation is nobody else's business.
  if (token.revoke_time != absl::InfiniteFuture()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "token \"", token.principal.name, "\" (", id, ") was revoked at ",
        absl::FormatTime(absl::RFC3339_sec, token.revoke_time, absl::UTCTimeZone())));
  }
  return token.principal;
}

absl::StatusOr<Principal> Auth::Authenticate(absl::string_view authorization) {
  authorization = absl::StripAsciiWhitespace(authorization);
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing Authorization header: send \"Authorization: Bearer <token>\"");
  }
  // The scheme is case-insensitive (RFC 9110); nothing of the header is
  // echoed, since other schemes carry credentials too.
  size_t space = authorization.find(' ');
  if (space == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(authorization.substr(0, space), "Bearer")) {
    return absl::UnauthenticatedError("Authorization header is not \"Bearer <token>\"");
  }
  absl::string_view secret = absl::StripLeadingAsciiWhitespace(authorization.substr(space + 1));
  absl::string_view id = SecretId(secret);
  if (id.empty()) {
    return absl::UnauthenticatedError(
        "malformed token: want atk_<id>_<secret> as printed by token create");
  }
  absl::StatusOr<std::string> hash = Sha256(secret);
  if (!hash.ok()) return hash.status();

  absl::Time now = clock_->Now();
  int64_t generation;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = cache_.find(id);
    // A clock that went backwards also counts as stale.
    if (it != cache_.end() && it->second.read_time <= now &&
        now < it->second.read_time + kCacheTtl) {
      return Check(it->second, *hash);
    }
    generation = generation_;
  }

  absl::StatusOr<automate::StoredToken> stored = store_->GetToken(id);
  if (absl::IsNotFound(stored.status())) {
    return absl::UnauthenticatedError(absl::StrCat("unknown token ", id));
  }
  if (!stored.ok()) return stored.status();
  CachedToken entry;
  entry.secret_hash = std::move(stored->secret_hash);
  entry.principal.token_id = std::string(id);
  entry.principal.name = stored->token.name();
  entry.principal.role = stored->token.role();
  entry.principal.groups.assign(stored->token.groups().begin(), stored->token.groups().end());
  if (stored->token.has_revoke_time()) {
    entry.revoke_time = FromTimestamp(stored->token.revoke_time());
  }
  entry.read_time = now;
  absl::StatusOr<Principal> result = Check(entry, *hash);
  {
    absl::MutexLock lock(&mu_);
    if (generation_ == generation) cache_.insert_or_assign(std::string(id), std::move(entry));
  }
  return result;
}

absl::Status Auth::RequireRole(const Principal& who, Role at_least) {
  if (IsValidRole(who.role) && who.role >= at_least) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("token \"", who.name, "\" has role ",
                                                  RoleName(who.role), "; this needs ",
                                                  RoleName(at_least)));
}

absl::Status Auth::RequireRun(const Principal& who, const automate::v1::JobSpec& job) {
  if (absl::Status role = RequireRole(who, automate::v1::OPERATOR); !role.ok()) return role;
  if (job.allowed_groups().empty() || who.role == automate::v1::ADMIN) return absl::OkStatus();
  for (const std::string& group : who.groups) {
    if (std::find(job.allowed_groups().begin(), job.allowed_groups().end(), group) !=
        job.allowed_groups().end()) {
      return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "job \"", job.name(), "\" may be run only by groups ",
      absl::StrJoin(job.allowed_groups(), ", "), " (or admins); token \"", who.name,
      "\" has groups ", GroupList(who.groups)));
}

automate::v1::AuditEntry Auth::AuditEntryFor(const Principal* who, absl::string_view action,
                                             absl::string_view target, absl::string_view detail,
                                             int http_status) {
  automate::v1::AuditEntry entry;
  *entry.mutable_time() = ToTimestamp(clock_->Now());
  entry.set_actor(who != nullptr ? who->name : std::string(kCliActor));
  entry.set_action(std::string(action));
  entry.set_target(std::string(target));
  entry.set_detail(std::string(detail));
  entry.set_http_status(http_status);
  return entry;
}

absl::Status Auth::Audit(const Principal* who, absl::string_view action, absl::string_view target,
                         absl::string_view detail, int http_status) {
  automate::v1::AuditEntry entry = AuditEntryFor(who, action, target, detail, http_status);
  return store_->AppendAudit(&entry);
}

absl::StatusOr<automate::v1::ListAuditResponse> Auth::ListAudit(int limit,
                                                                absl::string_view page_token) {
  absl::StatusOr<automate::AuditPage> page = store_->ListAudit(limit, page_token);
  if (!page.ok()) return page.status();
  automate::v1::ListAuditResponse response;
  for (automate::v1::AuditEntry& entry : page->entries) *response.add_entries() = std::move(entry);
  response.set_next_page_token(std::move(page->next_page_token));
  return response;
}

}  // namespace automated
