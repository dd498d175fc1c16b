#include "web_assets.h"

#include <cstddef>

namespace automated {
namespace web_internal {
// Defined in the generated web_assets_data.cc.
extern const WebAsset kEmbeddedAssets[];
extern const std::size_t kEmbeddedAssetCount;
}  // namespace web_internal

std::span<const WebAsset> WebAssets() {
  return {web_internal::kEmbeddedAssets, web_internal::kEmbeddedAssetCount};
}

const WebAsset* FindWebAsset(std::string_view path) {
  for (const WebAsset& asset : WebAssets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace automated
