// The framing of one stored log chunk in a `<id>.log` file, and CRC-32C.
//
// A record is a 32-byte little-endian header followed by the data:
//   u16 magic 0xA71C | u8 version (1) | u8 stream | u32 data length |
//   i64 offset | i64 time (unix ns) | u32 crc32c(header[0..28) + data) | u32 zero
// Records are contiguous: each one's offset is the previous offset plus its
// length, which lets readers check that the index points at a real record.
#ifndef AUTOMATE_LOGS_LOG_RECORD_H_
#define AUTOMATE_LOGS_LOG_RECORD_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/log.h"

namespace automate::internal {

inline constexpr size_t kRecordHeaderSize = 32;
// Chunks longer than this are refused: a reader never needs more memory than
// this to see one whole record.
inline constexpr uint32_t kMaxRecordData = 64u << 20;

// CRC-32C (Castagnoli), continuing from `crc` (0 to start).
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

// Fills `header` (kRecordHeaderSize bytes) for `chunk`.
void EncodeRecordHeader(const LogChunk& chunk, char* header);

struct RecordHeader {
  v1::LogStream stream;
  uint32_t length;
  int64_t offset;
  absl::Time time;
  uint32_t crc;
};

// Parses a header; false if the magic, version or length is not plausible.
bool DecodeRecordHeader(const char* header, RecordHeader* out);

// True iff `data` is what the header's checksum covers.
bool RecordChecksumOk(const char* header, const RecordHeader& parsed, absl::string_view data);

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_LOG_RECORD_H_
