#include "tools/args.h"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace soft::tools {

ArgParser::ArgParser(std::string command, std::string synopsis, std::string description)
    : command_(std::move(command)), synopsis_(std::move(synopsis)), description_(std::move(description)) {}

ArgParser& ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                             bool required) {
  specs_.push_back({name, metavar, help, required});
  return *this;
}

ArgParser& ArgParser::repeated(const std::string& name, const std::string& metavar, const std::string& help) {
  specs_.push_back({name, metavar, help, false, true});
  return *this;
}

ArgParser& ArgParser::many(const std::string& name, const std::string& metavar, const std::string& help) {
  specs_.push_back({name, metavar, help, false, true, true});
  return *this;
}

ArgParser& ArgParser::flag(const std::string& name, const std::string& help) {
  specs_.push_back({name, "", help, false});
  return *this;
}

ArgParser& ArgParser::positional(const std::string& name, const std::string& metavar, const std::string& help,
                                 bool required) {
  positionals_.push_back({name, metavar, help, required});
  return *this;
}

ArgParser& ArgParser::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}

const ArgParser::Spec* ArgParser::find(const std::string& name) const {
  auto it = std::find_if(specs_.begin(), specs_.end(), [&](const Spec& s) { return s.name == name; });
  return it == specs_.end() ? nullptr : &*it;
}

Args ArgParser::parse(const std::vector<std::string>& args) const {
  const std::string hint = "; see 'soft " + command_ + " --help'";
  Args out;
  out.command_ = command_;
  size_t first = 0;
  for (const Spec& positional : positionals_) {
    const bool given = first < args.size() && args[first].compare(0, 1, "-") != 0;
    if (!given && positional.required)
      throw UsageError(command_ + ": missing " + positional.metavar + " (" + positional.help + ")" + hint);
    if (given) out.values_[positional.name] = args[first++];
  }
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
      throw UsageError(command_ + ": unexpected argument '" + arg + "' (flags are --name value)" + hint);
    size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const Spec* spec = find(name);
    if (!spec) throw UsageError(command_ + ": unknown flag '--" + name + "'" + hint);
    if (out.has(name) && !spec->repeatable) throw UsageError(command_ + ": flag '--" + name + "' given twice");
    std::string value;
    if (spec->takes_value()) {
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else {
        // "--model --json" is a forgotten value, not a model named "--json" (use --name=value for that).
        if (i + 1 >= args.size() || args[i + 1].compare(0, 2, "--") == 0)
          throw UsageError(command_ + ": flag '--" + name + "' needs a value (" + spec->metavar + ")");
        value = args[++i];
      }
      if (value.empty()) throw UsageError(command_ + ": flag '--" + name + "' has an empty value");
    } else if (eq != std::string::npos) {
      throw UsageError(command_ + ": flag '--" + name + "' takes no value");
    }
    out.values_[name] = value;
    if (spec->repeatable) out.repeated_[name].push_back(value);
    while (spec->greedy && i + 1 < args.size() && args[i + 1].compare(0, 2, "--") != 0) {
      out.repeated_[name].push_back(args[++i]);
      out.values_[name] = args[i];
    }
  }
  for (const Spec& s : specs_)
    if (s.required && !out.has(s.name))
      throw UsageError(command_ + ": missing required flag '--" + s.name + " " + s.metavar + "'" + hint);
  return out;
}

std::string ArgParser::help() const {
  std::ostringstream s;
  s << "Usage: soft " << command_;
  for (const Spec& positional : positionals_)
    s << " " << (positional.required ? positional.metavar : "[" + positional.metavar + "]");
  for (const Spec& spec : specs_) {
    std::string usage = "--" + spec.name + (spec.takes_value() ? " " + spec.metavar : "");
    s << " " << (spec.required ? usage : "[" + usage + (spec.repeatable ? " ..." : "") + "]");
  }
  s << "\n\n" << wrap(synopsis_);
  if (!description_.empty()) s << "\n" << wrap(description_);
  s << "\nFlags:\n";
  size_t width = 0;
  for (const Spec& positional : positionals_) width = std::max(width, positional.metavar.size());
  for (const Spec& spec : specs_) width = std::max(width, spec.name.size() + spec.metavar.size() + 3);
  for (const Spec& positional : positionals_)
    s << "  " << positional.metavar << std::string(width - positional.metavar.size() + 2, ' ') << positional.help
      << "\n";
  for (const Spec& spec : specs_) {
    std::string usage = "--" + spec.name + (spec.takes_value() ? " " + spec.metavar : "");
    s << "  " << usage << std::string(width - usage.size() + 2, ' ') << spec.help
      << (spec.required ? " (required)" : "") << (spec.repeatable ? " (repeatable)" : "") << "\n";
  }
  s << "  --help" << std::string(std::max<size_t>(width, 6) - 4, ' ') << "show this help\n";
  if (!epilog_.empty()) s << "\n" << wrap(epilog_);
  return s.str();
}

const std::string& Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw UsageError(command_ + ": missing flag '--" + name + "'");
  return it->second;
}

int64_t Args::get_int(const std::string& name, int64_t min, int64_t max) const {
  const std::string& text = get(name);
  int64_t v = 0;
  if (!parse_int(text, v) || v < min || v > max)
    throw UsageError(command_ + ": '--" + name + " " + text + "': expected an integer from " +
                     std::to_string(min) + " to " + std::to_string(max));
  return v;
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = repeated_.find(name);
  return it == repeated_.end() ? std::vector<std::string>{} : it->second;
}

bool wants_help(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
}

std::string wrap(const std::string& text, size_t width) {
  std::istringstream lines(text);
  std::string line, out;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word, current;
    while (words >> word) {
      if (!current.empty() && current.size() + 1 + word.size() > width) out += current + "\n", current.clear();
      current += (current.empty() ? "" : " ") + word;
    }
    out += current + "\n";
  }
  return out;
}

bool parse_int(const std::string& text, int64_t& value) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (begin != end && *begin == '+' && begin + 1 != end && begin[1] != '-') ++begin;  // from_chars takes no '+'
  auto [ptr, ec] = std::from_chars(begin, end, value);
  return begin != end && ec == std::errc() && ptr == end;
}

}  // namespace soft::tools
