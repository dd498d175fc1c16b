#include "logs/log_record.h"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace automate::internal {
namespace {

constexpr uint16_t kMagic = 0xA71C;
constexpr uint8_t kVersion = 1;
constexpr size_t kCrcCovered = 24;  // magic..time; the crc field itself is not covered.

struct CrcTable {
  uint32_t t[256];
  CrcTable() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

uint32_t Crc32cSoftware(uint32_t crc, const unsigned char* p, size_t n) {
  static const CrcTable table;
  for (size_t i = 0; i < n; ++i) crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The SSE4.2 instruction checksums 8 bytes per cycle, so checksumming stays
// far below the cost of the write() that stores the bytes.
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(uint32_t crc, const unsigned char* p,
                                                          size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
#endif

void Put16(char* p, uint16_t v) { memcpy(p, &v, 2); }
void Put32(char* p, uint32_t v) { memcpy(p, &v, 4); }
void Put64(char* p, int64_t v) { memcpy(p, &v, 8); }
uint16_t Get16(const char* p) { uint16_t v; memcpy(&v, p, 2); return v; }
uint32_t Get32(const char* p) { uint32_t v; memcpy(&v, p, 4); return v; }
int64_t Get64(const char* p) { int64_t v; memcpy(&v, p, 8); return v; }

}  // namespace

uint32_t Crc32c(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool has_sse42 = __builtin_cpu_supports("sse4.2");
  crc = has_sse42 ? Crc32cHardware(crc, p, n) : Crc32cSoftware(crc, p, n);
#else
  crc = Crc32cSoftware(crc, p, n);
#endif
  return ~crc;
}

void EncodeRecordHeader(const LogChunk& chunk, char* header) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "log files are little-endian");
  Put16(header, kMagic);
  header[2] = static_cast<char>(kVersion);
  header[3] = static_cast<char>(chunk.stream);
  Put32(header + 4, static_cast<uint32_t>(chunk.data.size()));
  Put64(header + 8, chunk.offset);
  Put64(header + 16, absl::ToUnixNanos(chunk.time));
  uint32_t crc = Crc32c(0, header, kCrcCovered);
  crc = Crc32c(crc, chunk.data.data(), chunk.data.size());
  Put32(header + 24, crc);
  Put32(header + 28, 0);
}

bool DecodeRecordHeader(const char* header, RecordHeader* out) {
  if (Get16(header) != kMagic || static_cast<uint8_t>(header[2]) != kVersion) return false;
  int stream = static_cast<uint8_t>(header[3]);
  if (!v1::LogStream_IsValid(stream)) return false;
  out->stream = static_cast<v1::LogStream>(stream);
  out->length = Get32(header + 4);
  out->offset = Get64(header + 8);
  out->time = absl::FromUnixNanos(Get64(header + 16));
  out->crc = Get32(header + 24);
  return out->length <= kMaxRecordData && out->offset >= 0;
}

bool RecordChecksumOk(const char* header, const RecordHeader& parsed, absl::string_view data) {
  uint32_t crc = Crc32c(0, header, kCrcCovered);
  return Crc32c(crc, data.data(), data.size()) == parsed.crc;
}

}  // namespace automate::internal
