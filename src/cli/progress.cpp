#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace qi::cli {

// Width of the bar in characters.
constexpr int kBarWidth = 30;
constexpr double kMiB = 1024.0 * 1024.0;

ProgressBar::ProgressBar(int steps, bool quiet) : steps_(steps), quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}

void ProgressBar::update(int step, double seconds) {
  if (quiet_) return;
  const double rate = seconds > 0 ? step / seconds : 0;
  const double eta = rate > 0 ? (steps_ - step) / rate : 0;
  if (tty_) {
    const int filled = steps_ ? kBarWidth * step / steps_ : kBarWidth;
    char bar[kBarWidth + 1];
    for (int i = 0; i < kBarWidth; ++i) bar[i] = i < filled ? '#' : '.';
    bar[kBarWidth] = '\0';
    std::fprintf(stderr, "\r[%s] %d/%d  %.2f it/s  ETA %.0fs   ", bar, step, steps_, rate, eta);
    open_ = true;
  } else {
    std::fprintf(stderr, "step %d/%d  %.2f it/s  ETA %.0fs\n", step, steps_, rate, eta);
  }
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (open_) std::fprintf(stderr, "\n");
  open_ = false;
}

void print_stage_summary(const std::vector<StageReport>& stages) {
  std::fprintf(stderr, "%-18s %10s %14s\n", "stage", "seconds", "peak MiB");
  double total = 0;
  for (const auto& s : stages) {
    std::fprintf(stderr, "%-18s %10.2f %14.1f\n", s.name.c_str(), s.seconds, double(s.peak_bytes) / kMiB);
    total += s.seconds;
  }
  std::fprintf(stderr, "%-18s %10.2f\n", "total", total);
}

}  // namespace qi::cli
