#include "store/secret_cipher.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cstring>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace automate::internal {
namespace {

constexpr char kFormat = 1;
constexpr int kNonceSize = 12;
constexpr int kTagSize = 16;

absl::Status KeyError(const std::string& path, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("sqlite store: secret key ", path, ": ", what, ": ", strerror(errno)));
}

absl::StatusOr<std::string> ReadKey(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return KeyError(path, "stat");
  if (st.st_size != static_cast<off_t>(SecretCipher::kKeySize)) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store: secret key ", path, ": has ", st.st_size, " bytes, want ",
                     SecretCipher::kKeySize, " (wrong or damaged key file)"));
  }
  std::string key(SecretCipher::kKeySize, '\0');
  if (pread(fd, key.data(), key.size(), 0) != static_cast<ssize_t>(key.size())) {
    return KeyError(path, "read");
  }
  return key;
}

// Writes a fresh key with O_EXCL. Returns kAlreadyExists if another opener
// created the file first, so the caller reads theirs instead.
absl::Status CreateKey(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path);
    return KeyError(path, "create");
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  unsigned char key[SecretCipher::kKeySize];
  if (RAND_bytes(key, sizeof(key)) != 1) {
    unlink(path.c_str());
    return absl::InternalError("sqlite store: secret key: RAND_bytes failed");
  }
  // The key must be durable before any secret sealed with it is committed.
  if (write(fd, key, sizeof(key)) != static_cast<ssize_t>(sizeof(key)) || fsync(fd) != 0) {
    absl::Status status = KeyError(path, "write");
    unlink(path.c_str());
    return status;
  }
  return absl::OkStatus();
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

absl::StatusOr<SecretCipher> SecretCipher::LoadOrCreate(const std::string& path) {
  for (int tries = 0; tries < 2; ++tries) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      absl::StatusOr<std::string> key = ReadKey(fd, path);
      close(fd);
      if (!key.ok()) return key.status();
      return SecretCipher(*std::move(key));
    }
    if (errno != ENOENT) return KeyError(path, "open");
    absl::Status created = CreateKey(path);
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
  }
  return absl::InternalError(absl::StrCat("sqlite store: secret key ", path, ": vanished"));
}

SecretCipher SecretCipher::FromKey(std::string key) {
  assert(key.size() == kKeySize);
  return SecretCipher(std::move(key));
}

absl::StatusOr<std::string> SecretCipher::Seal(absl::string_view name,
                                               absl::string_view value) const {
  std::string out(1 + kNonceSize + value.size() + kTagSize, '\0');
  out[0] = kFormat;
  auto* nonce = reinterpret_cast<unsigned char*>(&out[1]);
  auto* cipher = nonce + kNonceSize;
  if (RAND_bytes(nonce, kNonceSize) != 1) {
    return absl::InternalError("sqlite store: seal secret: RAND_bytes failed");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok =
      ctx != nullptr &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), nonce) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(name.data()),
                        static_cast<int>(name.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), cipher, &len,
                        reinterpret_cast<const unsigned char*>(value.data()),
                        static_cast<int>(value.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), cipher + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, cipher + value.size()) == 1;
  if (!ok) return absl::InternalError(absl::StrCat("sqlite store: seal secret ", name));
  return out;
}

absl::StatusOr<std::string> SecretCipher::Open(absl::string_view name,
                                               absl::string_view sealed) const {
  auto corrupt = [&] {
    return absl::DataLossError(absl::StrCat("sqlite store: secret ", name,
                                            ": cannot decrypt (wrong key file or corrupted)"));
  };
  if (sealed.size() < 1 + kNonceSize + kTagSize || sealed[0] != kFormat) return corrupt();
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + 1);
  const unsigned char* cipher = nonce + kNonceSize;
  size_t cipher_size = sealed.size() - 1 - kNonceSize - kTagSize;
  std::string tag(sealed.substr(sealed.size() - kTagSize));
  std::string out(cipher_size, '\0');
  auto* plain = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                               reinterpret_cast<const unsigned char*>(key_.data()), nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(name.data()),
                              static_cast<int>(name.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), plain, &len, cipher, static_cast<int>(cipher_size)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), plain + len, &len) == 1;
  if (!ok) {
    // Do not hand back a partially decrypted buffer.
    OPENSSL_cleanse(out.data(), out.size());
    return corrupt();
  }
  return out;
}

}  // namespace automate::internal
