#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace qi {

static LogLevel initial_level() {
  const char* env = std::getenv("QI_LOG");
  if (!env) return LogLevel::Info;
  if (!std::strcmp(env, "debug")) return LogLevel::Debug;
  if (!std::strcmp(env, "warn")) return LogLevel::Warn;
  if (!std::strcmp(env, "error")) return LogLevel::Error;
  if (!std::strcmp(env, "quiet")) return LogLevel::Quiet;
  return LogLevel::Info;
}

static std::atomic<LogLevel> g_level{initial_level()};

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

static void emit(LogLevel level, const char* prefix, const std::string& msg) {
  if (level < g_level.load()) return;
  std::fprintf(stderr, "%s%s\n", prefix, msg.c_str());
}

void log_debug(const std::string& msg) { emit(LogLevel::Debug, "debug: ", msg); }
void log_info(const std::string& msg) { emit(LogLevel::Info, "", msg); }
void log_warn(const std::string& msg) { emit(LogLevel::Warn, "warning: ", msg); }
void log_error(const std::string& msg) { emit(LogLevel::Error, "error: ", msg); }

}  // namespace qi
