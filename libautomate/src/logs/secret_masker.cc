#include "logs/secret_masker.h"

#include <algorithm>
#include <cstring>

namespace automate::internal {
namespace {

constexpr size_t kMinDerivedLen = 4;
constexpr char kB64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Base64 of `in` without padding; a final partial group is encoded as if
// followed by zero bits (those characters are dropped by the caller).
std::string Base64(absl::string_view in, const char* alphabet) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// The characters of the base64 of (`align` unknown bytes + value + unknown
// bytes) that depend on the value alone: char k covers bits [6k, 6k+6), and
// the value occupies bits [8*align, 8*(align+n)).
std::string StableBase64(absl::string_view value, size_t align, const char* alphabet) {
  std::string padded(align, '\0');
  padded.append(value.data(), value.size());
  const std::string enc = Base64(padded, alphabet);
  const size_t first = (8 * align + 5) / 6;
  const size_t end = (8 * (align + value.size())) / 6;
  if (end <= first) return "";
  return enc.substr(first, end - first);
}

std::string UrlEncode(absl::string_view value, const char* hex, bool plus_for_space) {
  std::string out;
  for (unsigned char c : value) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ' && plus_for_space) {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// Masks data[0..limit) into `out` (matches may end past `limit`, up to the
// end of `data`). Returns where it stopped: `limit`, or the start of a run of
// matches that crosses `limit` and could grow with more bytes.
size_t MaskPrefix(const SecretPatterns& p, absl::string_view data, size_t limit,
                  std::string* out) {
  size_t copied = 0;
  size_t i = 0;
  while (i < limit) {
    while (i < limit && !p.MayStart(static_cast<unsigned char>(data[i]))) ++i;
    if (i >= limit) break;
    size_t len = p.MatchAt(data, i);
    if (len == 0) {
      ++i;
      continue;
    }
    size_t run_end = i + len;
    for (size_t j = i + 1; j < run_end; ++j) {
      if (p.MayStart(static_cast<unsigned char>(data[j]))) {
        run_end = std::max(run_end, j + p.MatchAt(data, j));
      }
    }
    if (run_end > limit && limit < data.size()) {
      out->append(data.data() + copied, i - copied);
      return i;
    }
    out->append(data.data() + copied, i - copied);
    out->append(kMask.data(), kMask.size());
    copied = i = run_end;
  }
  if (copied < limit) out->append(data.data() + copied, limit - copied);
  return std::max(copied, limit);
}

}  // namespace

SecretPatterns::SecretPatterns(const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    if (v.empty()) continue;
    Add(v, /*derived=*/false);
    for (const char* alphabet : {kB64Std, kB64Url}) {
      for (size_t align = 0; align < 3; ++align) Add(StableBase64(v, align, alphabet), true);
    }
    for (const char* hex : {"0123456789ABCDEF", "0123456789abcdef"}) {
      for (bool plus : {false, true}) Add(UrlEncode(v, hex, plus), true);
    }
  }
  for (uint32_t i = 0; i < patterns_.size(); ++i) {
    by_first_[static_cast<unsigned char>(patterns_[i][0])].push_back(i);
  }
  for (auto& list : by_first_) {
    std::sort(list.begin(), list.end(),
              [this](uint32_t a, uint32_t b) { return patterns_[a].size() > patterns_[b].size(); });
  }
}

void SecretPatterns::Add(std::string pattern, bool derived) {
  if (pattern.empty() || (derived && pattern.size() < kMinDerivedLen)) return;
  if (std::find(patterns_.begin(), patterns_.end(), pattern) != patterns_.end()) return;
  patterns_.push_back(std::move(pattern));
  max_len_ = std::max(max_len_, patterns_.back().size());
}

size_t SecretPatterns::MatchAt(absl::string_view data, size_t i) const {
  const size_t left = data.size() - i;
  for (uint32_t k : by_first_[static_cast<unsigned char>(data[i])]) {
    const std::string& p = patterns_[k];
    if (p.size() <= left && memcmp(p.data(), data.data() + i, p.size()) == 0) return p.size();
  }
  return 0;
}

bool SecretPatterns::PrefixAt(absl::string_view data, size_t i) const {
  const size_t left = data.size() - i;
  for (uint32_t k : by_first_[static_cast<unsigned char>(data[i])]) {
    const std::string& p = patterns_[k];
    if (p.size() > left && memcmp(p.data(), data.data() + i, left) == 0) return true;
  }
  return false;
}

void MaskAll(const SecretPatterns& patterns, absl::string_view data, std::string* out) {
  if (patterns.empty()) {
    out->append(data.data(), data.size());
    return;
  }
  MaskPrefix(patterns, data, data.size(), out);
}

void StreamMasker::Process(const SecretPatterns& p, absl::string_view data, std::string* out) {
  if (p.empty()) {
    out->append(held_);
    out->append(data.data(), data.size());
    held_.clear();
    return;
  }
  std::string joined;
  absl::string_view buf = data;
  if (!held_.empty()) {
    joined = std::move(held_);
    joined.append(data.data(), data.size());
    buf = joined;
  }
  // Hold back from the first tail position that may start a secret.
  size_t hold = buf.size();
  const size_t tail = p.max_len() - 1;
  for (size_t i = buf.size() > tail ? buf.size() - tail : 0; i < buf.size(); ++i) {
    if (p.MayStart(static_cast<unsigned char>(buf[i])) && p.PrefixAt(buf, i)) {
      hold = i;
      break;
    }
  }
  size_t stop = MaskPrefix(p, buf, hold, out);
  // A run of overlapping matches may keep growing ("aaaa" for secret "aa");
  // bound what is held so memory stays bounded, at the cost of two masks.
  if (buf.size() - stop > 4 * p.max_len() + 4096) {
    stop += MaskPrefix(p, buf.substr(stop), buf.size() - stop, out);
  }
  held_.assign(buf.data() + stop, buf.size() - stop);
}

void StreamMasker::Flush(const SecretPatterns& p, std::string* out) {
  MaskAll(p, held_, out);
  held_.clear();
}

}  // namespace automate::internal
