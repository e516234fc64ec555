// soft bench attn --sweep: `soft bench attn` at every token count, each in a fresh child process of
// the soft binary (so each peak belongs to one size), SOFT against softmax (--kind K: one kind,
// --kind all: every kind of the attention zoo); softmax only while
// its attention matrix (heads x N x N float32) stays within a cap. Prints the children's result
// lines and a table; with --out DIR also writes DIR/attn_sweep.txt and DIR/attn_sweep.svg (time
// and peak memory against tokens). --with FILE adds the attn result lines of another run (e.g.
// bench/torch_soft.py) to the table and the plot; --cold-from N times sizes >= N tokens without
// a warm-up pass.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/error.h"
#include "tools/bench/bench.h"
#include "tools/bench/child_process.h"
#include "tools/report/svg_plot.h"

namespace soft::tools::bench {
namespace {

struct Row {
  std::string impl, attention;
  int64_t tokens = 0;
  double ms = 0, peak_mib = 0;
  std::string note;  // why there is no measurement (skipped, failed); empty when measured
};

std::string series_label(const std::string& attention, const std::string& impl) {
  std::string who = impl == "soft" ? "soft.cpp" : impl == "torch" ? "PyTorch" : impl;
  return (attention == "soft" ? "SOFT" : attention) + " (" + who + ")";
}

// The row of an attn result line; throws when a field is missing or not a number.
Row row_of(const std::map<std::string, std::string>& fields, const std::string& where) {
  auto field = [&](const std::string& key) {
    auto it = fields.find(key);
    SOFT_CHECK(it != fields.end(), "bench attn --sweep: ", where, ": result line without '", key, "='");
    return it->second;
  };
  auto number = [&](const std::string& key) {
    std::string text = field(key);
    try {
      return std::stod(text);
    } catch (const std::exception&) {
      SOFT_CHECK(false, "bench attn --sweep: ", where, ": '", key, "=", text, "' is not a number");
    }
    return 0.0;
  };
  const double peak = fields.count("peak_device_mib") ? number("peak_device_mib") : number("peak_rss_mib");
  return {field("impl"), field("attention"), static_cast<int64_t>(number("tokens")), number("fwd_bwd_ms"), peak, ""};
}

std::string table(const std::vector<Row>& rows) {
  std::ostringstream s;
  s << std::left << std::setw(9) << "tokens" << std::setw(20) << "block" << std::right << std::setw(16)
    << "fwd+bwd ms" << std::setw(16) << "peak MiB" << "\n";
  for (const Row& r : rows) {
    s << std::left << std::setw(9) << r.tokens << std::setw(20) << series_label(r.attention, r.impl) << std::right;
    if (r.note.empty()) s << std::setw(16) << fixed(r.ms, 2) << std::setw(16) << fixed(r.peak_mib, 1) << "\n";
    else s << "  " << r.note << "\n";
  }
  return s.str();
}

std::string plot(const std::vector<Row>& rows, const std::string& memory_title, const std::string& title_suffix) {
  Plot time{"forward + backward time" + title_suffix, {"tokens", true}, {"ms", true}, {}};
  Plot memory{memory_title + title_suffix, {"tokens", true}, {"MiB", true}, {}};
  for (const Row& r : rows) {
    if (!r.note.empty()) continue;
    std::string label = series_label(r.attention, r.impl);
    auto find = [&](Plot& p) -> Series& {
      for (Series& s : p.series)
        if (s.label == label) return s;
      return p.series.emplace_back(Series{label, {}, {}});
    };
    Series& t = find(time);
    Series& m = find(memory);
    t.x.push_back(static_cast<double>(r.tokens)), t.y.push_back(r.ms);
    m.x.push_back(static_cast<double>(r.tokens)), m.y.push_back(r.peak_mib);
  }
  return render_svg({time, memory});
}

}  // namespace

void attention_sweep(const Args& args, const RunOptions& run, std::ostream& out) {
  const std::vector<int64_t> tokens = args.has("tokens") ? int_list(args, "tokens", 1, int64_t{1} << 24)
                                                         : std::vector<int64_t>{1024, 4096, 16384, 65536};
  const int64_t heads = args.has("heads") ? args.get_int("heads", 1, 4096) : 2;
  const int64_t cap_mib = args.has("softmax-cap-mib") ? args.get_int("softmax-cap-mib", 1, int64_t{1} << 30) : 1024;
  std::vector<std::string> kinds = {"soft", "softmax"};
  if (args.has("kind")) kinds = args.get("kind") == "all" ? attention_kinds() : std::vector<std::string>{args.get("kind")};
  const std::string program = args.has("exe") ? args.get("exe") : current_executable();

  // Sizes this large are timed without a warm-up pass: one pass there takes long enough that
  // first-call costs vanish in it, and a warm-up would double the sweep's time.
  const int64_t cold_from = args.has("cold-from") ? args.get_int("cold-from", 1, int64_t{1} << 24) : INT64_MAX;

  // What every child gets besides --tokens, --kind and --warmup.
  std::vector<std::string> common = {"--steps", std::to_string(run.steps), "--threads", std::to_string(run.threads)};
  for (const char* name : {"dim", "heads", "ratio", "landmarks", "linformer-k", "features", "device", "precision"})
    if (args.has(name)) common.insert(common.end(), {std::string("--") + name, args.get(name)});

  out << "softmax runs while its attention matrix (heads x N x N float32) is at most " << cap_mib << " MiB\n";
  std::vector<Row> rows;
  std::string result_lines;
  for (int64_t n : tokens) {
    for (const std::string& kind : kinds) {
      const double matrix_mib = static_cast<double>(heads) * static_cast<double>(n) * static_cast<double>(n) * 4.0 /
                                (1024.0 * 1024.0);
      if (kind == "softmax" && matrix_mib > static_cast<double>(cap_mib)) {
        rows.push_back({"soft", kind, n, 0, 0, "skipped: " + fixed(matrix_mib, 0) + " MiB attention matrix > cap"});
        continue;
      }
      std::vector<std::string> child_args = {"bench", "attn", "--tokens", std::to_string(n), "--kind", kind,
                                             "--warmup", std::to_string(n >= cold_from ? 0 : run.warmup)};
      child_args.insert(child_args.end(), common.begin(), common.end());
      ChildResult child = run_child(program, child_args);
      std::istringstream lines(child.output);
      std::map<std::string, std::string> fields;
      std::string result_line;
      for (std::string line; std::getline(lines, line) && fields.empty();) {
        auto f = parse_result_line(line);
        if (f.count("result") && f["result"] == "attn") fields = f, result_line = line;
      }
      if (child.exit_status != 0 || fields.empty()) {
        rows.push_back({"soft", kind, n, 0, 0, "failed: exit status " + std::to_string(child.exit_status)});
        continue;
      }
      rows.push_back(row_of(fields, program + " " + child_args[3]));
      result_lines += result_line + "\n";
      out << result_line << "\n" << std::flush;
    }
  }
  if (args.has("with")) {
    std::ifstream other(args.get("with"));
    SOFT_CHECK(other, "bench attn --sweep: cannot read --with file ", args.get("with"));
    int line_number = 0;
    for (std::string line; std::getline(other, line);) {
      ++line_number;
      auto fields = parse_result_line(line);
      if (fields.count("result") && fields["result"] == "attn")
        rows.push_back(row_of(fields, args.get("with") + ":" + std::to_string(line_number)));
    }
  }

  std::string text = table(rows);
  out << "\n" << text;
  if (args.has("out")) {
    std::filesystem::path dir = args.get("out");
    std::filesystem::create_directories(dir);
    std::string suffix = run.device.is_cpu()
                             ? ", " + std::to_string(run.threads) + (run.threads == 1 ? " thread" : " threads")
                             : ", " + run.device.str() + (run.bf16 ? " bf16" : "");
    std::ofstream(dir / "attn_sweep.txt") << result_lines << "\n" << text;
    std::ofstream svg(dir / "attn_sweep.svg");
    svg << plot(rows, run.device.is_cpu() ? "peak resident memory" : "peak device memory", suffix);
    SOFT_CHECK(svg.good(), "bench attn --sweep: cannot write ", (dir / "attn_sweep.svg").string());
    out << "\nwrote " << (dir / "attn_sweep.txt").string() << " and " << (dir / "attn_sweep.svg").string() << "\n";
  }
}

}  // namespace soft::tools::bench
