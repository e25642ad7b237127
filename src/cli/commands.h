// The CLI's subcommands. Each lives in its own cmd_<name>.cpp and is listed in commands.cpp.
#pragma once
#include <string>
#include <vector>

namespace qi::cli {

// argv without the program and subcommand names. Returns the process exit code; throws UsageError (-> 2)
// or any other std::exception (-> 1).
using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  const char* name;
  const char* summary;
  CommandFn run;
};

const std::vector<Command>& commands();
int run_main(int argc, char** argv);

}  // namespace qi::cli
