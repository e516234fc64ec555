// soft bench data: images/s of a training config's input pipeline, from the JPEG files to the
// normalised batch tensor (decode, the train transform per sample, the batch transform: random
// erasing and the like), through the trainer's own DataLoader with --threads workers.
#include <sys/resource.h>

#include <chrono>
#include <iomanip>
#include <ostream>

#include "tools/bench/bench.h"
#include "tools/cli.h"
#include "tools/train/data_setup.h"
#include "tools/train/train_config.h"

namespace soft::tools::bench {
namespace {

// User + system CPU seconds of this process (all its threads) so far.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

}  // namespace

void data(const Args& args, const RunOptions& run, std::ostream& out) {
  train::Json json = config_json_from_args(args);
  json["data"]["workers"] = run.threads;
  const train::TrainConfig config = train::config_from_json(json, args.get("config"));
  const auto seconds = static_cast<double>(args.has("seconds") ? args.get_int("seconds", 1, 86400) : 10);
  train::TrainData d = train::make_train_data(config);
  data::DataLoader& loader = *d.train.loader;

  using Clock = std::chrono::steady_clock;
  int64_t epoch = 0, images = 0;
  loader.start_epoch(epoch);
  auto next_batch = [&] {
    std::optional<data::Batch> b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    return b->images.size(0);
  };
  for (int64_t w = 0; w < run.warmup; ++w) next_batch();  // untimed: first file reads, thread start
  const auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  double elapsed = 0;
  while (elapsed < seconds) {
    images += next_batch();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  const double cpu = cpu_seconds() - cpu_start;
  const double rate = static_cast<double>(images) / elapsed;
  const double per_thread = rate / static_cast<double>(run.threads);
  // Images per CPU-second: the cost per core, which other processes on the machine disturb far
  // less than the wall-clock rate.
  const double per_cpu_second = static_cast<double>(images) / cpu;
  out << ResultLine("data")
             .add("impl", "soft")
             .add("config", config.name)
             .add("threads", run.threads)
             .add("batch", config.batch)
             .add("images", images)
             .add("seconds", fixed(elapsed, 2))
             .add("images_per_s", fixed(rate, 2))
             .add("images_per_s_per_thread", fixed(per_thread, 2))
             .add("cpu_seconds", fixed(cpu, 2))
             .add("images_per_cpu_s", fixed(per_cpu_second, 2))
             .str()
      << "\n\n";
  out << "input pipeline of " << config.name << " (" << d.description << "), " << run.threads
      << " loader threads, batch " << config.batch << ":\n"
      << std::left << "  " << std::setw(20) << "images/s" << fixed(rate, 1) << "\n"
      << "  " << std::setw(20) << "images/s per thread" << fixed(per_thread, 1) << "\n"
      << "  " << std::setw(20) << "images/CPU-second" << fixed(per_cpu_second, 1) << "  (all threads' CPU time)\n"
      << "  " << std::setw(20) << "measured" << images << " images in " << fixed(elapsed, 2) << " s after "
      << run.warmup << " warm-up batches\n";
}

}  // namespace soft::tools::bench
