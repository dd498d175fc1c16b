// Encryption of secret values at rest: AES-256-GCM with a per-store key file.
//
// A sealed value is: 1 format byte (1) | 12-byte random nonce | ciphertext |
// 16-byte tag. The secret's name is the additional authenticated data, so a
// sealed value copied to another name fails to open.
//
// Thread-safety: a SecretCipher is immutable after Load and thread-safe.
// Secret values never appear in any Status message.
#ifndef AUTOMATE_STORE_SECRET_CIPHER_H_
#define AUTOMATE_STORE_SECRET_CIPHER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace automate::internal {

class SecretCipher {
 public:
  static constexpr size_t kKeySize = 32;

  // Reads the 32-byte key at `path`, or creates it (random, mode 0600, with
  // O_EXCL so two openers never both write one) if it does not exist.
  // kFailedPrecondition if the file exists with another size; kInternal for
  // I/O errors.
  static absl::StatusOr<SecretCipher> LoadOrCreate(const std::string& path);
  // For tests: a cipher with the given key. REQUIRES: key.size() == kKeySize.
  static SecretCipher FromKey(std::string key);

  // Encrypts `value` bound to `name`. kInternal only if OpenSSL fails.
  absl::StatusOr<std::string> Seal(absl::string_view name, absl::string_view value) const;
  // Decrypts what Seal returned for the same name. kDataLoss when the value
  // does not authenticate (wrong key, another name, or corruption).
  absl::StatusOr<std::string> Open(absl::string_view name, absl::string_view sealed) const;

 private:
  explicit SecretCipher(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace automate::internal

#endif  // AUTOMATE_STORE_SECRET_CIPHER_H_
