#include "cli/commands.h"

int main(int argc, char** argv) { return qi::cli::run_main(argc, argv); }
