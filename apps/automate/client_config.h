// Where the CLI finds its server: the config file written by
// `automate config set-server`, AUTOMATE_SERVER / AUTOMATE_TOKEN, and the
// --server / --token flags (flags win over the environment, which wins over
// the file).
#ifndef AUTOMATE_APPS_AUTOMATE_CLIENT_CONFIG_H_
#define AUTOMATE_APPS_AUTOMATE_CLIENT_CONFIG_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace automate::cli {

// The config file's contents. Empty fields are absent.
struct ClientConfig {
  std::string server;
  std::string token;
  std::string ca_file;
};

// $XDG_CONFIG_HOME/automate/config.yaml, else ~/.config/automate/config.yaml.
std::string ClientConfigPath();

// A missing file is an empty config. kInvalidArgument naming the file for
// bad YAML or a field of the wrong type; unknown fields are ignored, so that
// an older automate reads what a newer one wrote.
absl::StatusOr<ClientConfig> LoadClientConfig(const std::string& path);

// Writes `config` atomically (a temporary file, fsync, rename) with mode
// 0600, creating missing directories with mode 0700: it holds a token.
absl::Status SaveClientConfig(const std::string& path, const ClientConfig& config);

// The server and token a command uses, and where each came from
// ("--server", "AUTOMATE_SERVER", "the config file"), for messages.
struct RemoteSettings {
  std::string server;  // Empty: local mode.
  std::string server_source;
  std::string token;
  std::string token_source;
  std::string ca_file;
};

// Flags (set even when empty: `--server ""` forces local mode) > environment
// (set and not empty) > file. The file's token is used only with the file's
// server, so that `--server OTHER` never sends it elsewhere; likewise its
// ca_file.
RemoteSettings ResolveRemoteSettings(const std::optional<std::string>& flag_server,
                                     const std::optional<std::string>& flag_token,
                                     const ClientConfig& file);

}  // namespace automate::cli

#endif  // AUTOMATE_APPS_AUTOMATE_CLIENT_CONFIG_H_
