#pragma once
// The flags of one `soft` subcommand: declared once with their help text, parsed strictly
// ("--name value" or "--name=value"; a positional argument only where declared, as the KIND of
// `soft bench KIND`) and printed as `soft CMD --help`.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace soft::tools {

// Exit statuses of the `soft` command.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // a soft::Error while running: files, configs, weights, inputs
constexpr int kExitUsage = 2;  // the command line is wrong: see UsageError

// A mistake on the command line: unknown command or flag, a flag given twice or without its
// value, a missing required flag, a malformed or out-of-range value.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args;

class ArgParser {
 public:
  // `command` as typed after `soft` ("info"); `synopsis` is one line, `description` a paragraph.
  ArgParser(std::string command, std::string synopsis, std::string description);
  // A flag taking a value, shown as "--name METAVAR".
  ArgParser& option(const std::string& name, const std::string& metavar, const std::string& help,
                    bool required = false);
  // A flag taking a value that may be given several times (Args::get_all), e.g. --set K=V.
  ArgParser& repeated(const std::string& name, const std::string& metavar, const std::string& help);
  // A repeated flag that also takes the arguments after it up to the next flag: --images a.jpg b.png.
  ArgParser& many(const std::string& name, const std::string& metavar, const std::string& help);
  // A flag without a value.
  ArgParser& flag(const std::string& name, const std::string& help);
  // An argument before the flags (the KIND of `soft bench KIND --flags`, the run folder of
  // `soft eval RUN_DIR`, IN and OUT of `soft convert IN OUT`), stored under `name`, in the order
  // declared; when not required it may be left out.
  ArgParser& positional(const std::string& name, const std::string& metavar, const std::string& help,
                        bool required = true);
  // Appended to the help after the flags (e.g. how output is to be read).
  ArgParser& epilog(const std::string& text);

  Args parse(const std::vector<std::string>& args) const;  // throws UsageError
  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  struct Spec {
    std::string name, metavar, help;
    bool required = false;
    bool repeatable = false;
    bool greedy = false;  // many(): the following non-flag arguments are more values
    bool takes_value() const { return !metavar.empty(); }
  };
  const Spec* find(const std::string& name) const;

  std::string command_, synopsis_, description_, epilog_;
  std::vector<Spec> specs_;
  std::vector<Spec> positionals_;
};

// Parsed flags, by name without the leading "--".
class Args {
 public:
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const std::string& get(const std::string& name) const;  // a flag that was given (or required)
  // The value as an integer in [min, max]; anything else is a UsageError naming the flag.
  int64_t get_int(const std::string& name, int64_t min, int64_t max) const;
  // Every value of a repeated flag, in the order given (empty when not given).
  std::vector<std::string> get_all(const std::string& name) const;
  const std::string& command() const { return command_; }

 private:
  friend class ArgParser;
  std::string command_;
  std::map<std::string, std::string> values_;  // switches hold ""; repeated flags their last value
  std::map<std::string, std::vector<std::string>> repeated_;
};

// "soft CMD --help" or "-h" anywhere among the arguments.
bool wants_help(const std::vector<std::string>& args);

// Breaks each line of `text` at spaces into lines of at most `width` characters; ends with "\n".
std::string wrap(const std::string& text, size_t width = 100);

// Parses a whole decimal integer (optional sign); false for anything else or out of int64 range.
bool parse_int(const std::string& text, int64_t& value);

}  // namespace soft::tools
