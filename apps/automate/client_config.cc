#include "client_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace automate::cli {
namespace {

const char* Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value ? value : nullptr;
}

absl::Status ErrnoError(const std::string& what) {
  return absl::UnknownError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// mkdir -p with mode 0700 for the directories it creates.
absl::Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError(absl::StrCat("cannot create ", prefix));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(absl::StrCat("cannot write ", path));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string ClientConfigPath() {
  if (const char* xdg = Env("XDG_CONFIG_HOME")) return absl::StrCat(xdg, "/automate/config.yaml");
  const char* home = Env("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.config/automate/config.yaml");
}

absl::StatusOr<ClientConfig> LoadClientConfig(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return ClientConfig{};
    return ErrnoError(absl::StrCat("cannot read ", path));
  }
  std::ifstream in(path);
  if (!in) return ErrnoError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  ClientConfig config;
  try {
    YAML::Node root = YAML::Load(text.str());
    if (root.IsNull()) return config;
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": must be a mapping of settings"));
    }
    auto field = [&](const char* key, std::string* value) -> absl::Status {
      YAML::Node node = root[key];
      if (!node || node.IsNull()) return absl::OkStatus();
      if (!node.IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", node.Mark().line + 1, ": ", key, ": must be a string"));
      }
      *value = node.Scalar();
      return absl::OkStatus();
    };
    for (auto [key, value] :
         {std::pair{"server", &config.server}, std::pair{"token", &config.token},
          std::pair{"ca_file", &config.ca_file}}) {
      if (absl::Status s = field(key, value); !s.ok()) return s;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid YAML: ", e.what()));
  }
  return config;
}

absl::Status SaveClientConfig(const std::string& path, const ClientConfig& config) {
  YAML::Emitter out;
  out << YAML::Comment("automate CLI settings, written by `automate config set-server`")
      << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << YAML::DoubleQuoted << config.server;
  if (!config.token.empty()) {
    out << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << config.token;
  }
  if (!config.ca_file.empty()) {
    out << YAML::Key << "ca_file" << YAML::Value << YAML::DoubleQuoted << config.ca_file;
  }
  out << YAML::EndMap;
  std::string data = absl::StrCat(out.c_str(), "\n");

  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (!dir.empty()) {
    if (absl::Status s = MakeDirs(dir); !s.ok()) return s;
  }
  // mkstemp creates the file with mode 0600: the token is never readable by
  // others, not even for a moment; rename makes the new file appear whole.
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  int fd = mkstemp(tmp.data());
  if (fd < 0) return ErrnoError(absl::StrCat("cannot create ", tmp));
  absl::Status status = WriteAll(fd, data, tmp);
  if (status.ok() && fchmod(fd, 0600) != 0) status = ErrnoError(absl::StrCat("cannot chmod ", tmp));
  if (status.ok() && fsync(fd) != 0) status = ErrnoError(absl::StrCat("cannot sync ", tmp));
  if (close(fd) != 0 && status.ok()) status = ErrnoError(absl::StrCat("cannot write ", tmp));
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(absl::StrCat("cannot replace ", path));
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  // The rename itself durable too.
  int dir_fd = open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

RemoteSettings ResolveRemoteSettings(const std::optional<std::string>& flag_server,
                                     const std::optional<std::string>& flag_token,
                                     const ClientConfig& file) {
  RemoteSettings settings;
  if (flag_server.has_value()) {
    settings.server = *flag_server;
    settings.server_source = "--server";
  } else if (const char* env = Env("AUTOMATE_SERVER")) {
    settings.server = env;
    settings.server_source = "AUTOMATE_SERVER";
  } else if (!file.server.empty()) {
    settings.server = file.server;
    settings.server_source = "the config file";
  }
  bool file_server = !file.server.empty() && settings.server == file.server;
  if (flag_token.has_value()) {
    settings.token = *flag_token;
    settings.token_source = "--token";
  } else if (const char* env = Env("AUTOMATE_TOKEN")) {
    settings.token = env;
    settings.token_source = "AUTOMATE_TOKEN";
  } else if (file_server && !file.token.empty()) {
    settings.token = file.token;
    settings.token_source = "the config file";
  }
  if (const char* env = Env("AUTOMATE_CA_FILE")) {
    settings.ca_file = env;
  } else if (file_server) {
    settings.ca_file = file.ca_file;
  }
  return settings;
}

}  // namespace automate::cli
