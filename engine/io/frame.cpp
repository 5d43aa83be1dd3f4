// engine/io/frame.cpp — see frame.h.
#include "engine/io/frame.h"

#include <cstdio>
#include <cstring>
#include <sstream>

#include "engine/io/crc32.h"

namespace mgf {

std::string frame_write(const char* magic8, uint32_t version, const ByteWriter& payload) {
  ByteWriter h;
  h.bytes(magic8, 8);
  h.u32(version);
  h.u64(static_cast<uint64_t>(payload.size()));
  h.u32(crc32(payload.data().data(), payload.size()));
  h.bytes(payload.data().data(), payload.size());
  return std::string(h.data().begin(), h.data().end());
}

ByteReader frame_open(const std::string& bytes, const std::string& what, const char* magic8, const std::string& magic_text,
                      const std::string& kind, uint32_t version) {
  ByteReader r(bytes, what);
  r.need(8, "magic");
  if (std::memcmp(bytes.data(), magic8, 8) != 0) {
    std::ostringstream found;
    for (int i = 0; i < 8; ++i) found << (i ? " " : "") << std::hex << (static_cast<unsigned>(bytes[i]) & 0xFF);
    r.fail("magic", "expected \"" + magic_text + "\" (" + kind + "), found bytes " + found.str());
  }
  r.seek(8);
  const uint32_t v = r.u32("version");
  if (v != version) r.fail_at(8, "version", "expected " + std::to_string(version) + ", found " + std::to_string(v));
  const uint64_t payload = r.u64("payload length");
  const uint32_t crc = r.u32("checksum");
  const size_t have = bytes.size() - kFrameHeaderBytes;
  if (have != payload)
    r.fail("payload", "expected " + std::to_string(payload) + " payload bytes (file of " + std::to_string(payload + kFrameHeaderBytes) +
                          " bytes), found " + std::to_string(have) + (have < payload ? " (truncated)" : " (trailing bytes)"));
  const uint32_t actual = crc32(bytes.data() + kFrameHeaderBytes, have);
  if (actual != crc) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "expected CRC-32 %08x (stored in the header), found %08x", crc, actual);
    r.fail("payload checksum", std::string(buf) + ": the file is corrupt");
  }
  return r;
}

}  // namespace mgf
