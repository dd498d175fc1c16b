// Replaces secret values in output streams with "****".
//
// SecretPatterns expands each value into the forms that commonly reach logs:
// the value itself; its base64 encodings (standard and URL-safe alphabets) in
// each of the three alignments the value can have inside a longer base64
// stream, keeping only the characters that depend on the value alone; and
// its URL encodings (%2F and %2f styles, and '+' for spaces). Derived forms
// shorter than 4 characters are skipped: they would mask too much that is
// not secret.
//
// StreamMasker masks one stream that arrives in pieces: it holds back a tail
// that could be the start of a secret until the next piece or Flush(), so a
// secret split across writes is still caught. Overlapping matches are merged
// into one "****".
//
// Thread-safety: SecretPatterns is immutable; a StreamMasker is used by one
// thread at a time.
#ifndef AUTOMATE_LOGS_SECRET_MASKER_H_
#define AUTOMATE_LOGS_SECRET_MASKER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace automate::internal {

inline constexpr absl::string_view kMask = "****";

class SecretPatterns {
 public:
  explicit SecretPatterns(const std::vector<std::string>& values);

  bool empty() const { return patterns_.empty(); }
  size_t max_len() const { return max_len_; }
  const std::vector<std::string>& patterns() const { return patterns_; }

  // True iff some pattern starts with byte `c`.
  bool MayStart(unsigned char c) const { return by_first_[c].size() > 0; }
  // The length of the longest pattern that data[i..] starts with; 0 if none.
  size_t MatchAt(absl::string_view data, size_t i) const;
  // True iff data[i..] is a proper prefix of some pattern (it may still
  // become a match when more bytes arrive).
  bool PrefixAt(absl::string_view data, size_t i) const;

 private:
  void Add(std::string pattern, bool derived);

  std::vector<std::string> patterns_;
  // Indexes into patterns_, longest first, by first byte.
  std::array<std::vector<uint32_t>, 256> by_first_;
  size_t max_len_ = 0;
};

// Appends `data` with every secret masked (no holding back) to `out`.
void MaskAll(const SecretPatterns& patterns, absl::string_view data, std::string* out);

class StreamMasker {
 public:
  // Appends the masked bytes that can no longer be part of a secret to `out`.
  void Process(const SecretPatterns& patterns, absl::string_view data, std::string* out);
  // Appends everything held back, masked.
  void Flush(const SecretPatterns& patterns, std::string* out);

 private:
  std::string held_;
};

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_SECRET_MASKER_H_
