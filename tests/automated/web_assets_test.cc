// The web page and the OpenAPI document are embedded in automated.
#include "web_assets.h"

#include <set>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace automated {
namespace {

TEST(WebAssetsTest, PageScriptAndStyleAreEmbeddedWithTheirTypes) {
  struct Want {
    std::string_view path, content_type, contains;
  };
  for (const Want& want : {Want{"/", "text/html; charset=utf-8", "<script src=\"/ui/app.js\""},
                           Want{"/ui/app.js", "text/javascript; charset=utf-8", "EventSource"},
                           Want{"/ui/style.css", "text/css; charset=utf-8", "#log"},
                           Want{"/v1/openapi.json", "application/json", "\"openapi\": \"3.0.3\""}}) {
    SCOPED_TRACE(want.path);
    const WebAsset* asset = FindWebAsset(want.path);
    ASSERT_NE(asset, nullptr);
    EXPECT_EQ(asset->path, want.path);
    EXPECT_EQ(asset->content_type, want.content_type);
    EXPECT_FALSE(asset->body.empty());
    EXPECT_NE(asset->body.find(want.contains), std::string_view::npos);
    EXPECT_EQ(asset->body.find('\0'), std::string_view::npos) << "the array's terminator leaked into the body";
  }
}

TEST(WebAssetsTest, EtagsAreQuotedAndDistinct) {
  std::set<std::string> etags;
  for (const WebAsset& asset : WebAssets()) {
    SCOPED_TRACE(asset.path);
    ASSERT_GE(asset.etag.size(), 3u);
    EXPECT_EQ(asset.etag.front(), '"');
    EXPECT_EQ(asset.etag.back(), '"');
    etags.emplace(asset.etag);
  }
  EXPECT_EQ(etags.size(), WebAssets().size());
}

TEST(WebAssetsTest, UnknownPathsAreNotFound) {
  EXPECT_EQ(FindWebAsset("/index.html"), nullptr);
  EXPECT_EQ(FindWebAsset("/ui/"), nullptr);
  EXPECT_EQ(FindWebAsset("/ui/app.js/"), nullptr);
  EXPECT_EQ(FindWebAsset(""), nullptr);
}

}  // namespace
}  // namespace automated
