// The web page's files (and the OpenAPI document), embedded in the binary at
// build time by cmake/EmbedFiles.cmake from the files next to this header.
#pragma once

#include <span>
#include <string_view>

namespace automated {

struct WebAsset {
  std::string_view path;          // URL path: "/", "/ui/app.js", "/ui/style.css", "/v1/openapi.json"
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view body;
  std::string_view etag;          // quoted, e.g. "\"3f2a…\"": a hash of body, for If-None-Match
};

// The asset served at `path` (exact match), or nullptr.
const WebAsset* FindWebAsset(std::string_view path);

// Every embedded asset.
std::span<const WebAsset> WebAssets();

}  // namespace automated
