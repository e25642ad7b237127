// Progress on stderr: a redrawn bar with step, it/s and ETA on a terminal, plain lines otherwise; and the
// end-of-run summary of stage times and peak memory.
#pragma once
#include <vector>

#include "pipeline/generation.h"

namespace qi::cli {

class ProgressBar {
 public:
  ProgressBar(int steps, bool quiet);
  void update(int step, double seconds);
  void finish();

 private:
  int steps_;
  bool quiet_, tty_, open_ = false;
};

void print_stage_summary(const std::vector<StageReport>& stages);

}  // namespace qi::cli
