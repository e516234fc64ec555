#include "nn/token_attention.h"

#include <vector>

#include "core/error.h"

namespace soft::nn {

namespace {
const std::vector<std::pair<std::string, AttentionKind>> kKinds = {{"soft", AttentionKind::Soft},
                                                                  {"softmax", AttentionKind::Softmax},
                                                                  {"linformer", AttentionKind::Linformer},
                                                                  {"performer", AttentionKind::Performer},
                                                                  {"nystrom", AttentionKind::Nystrom}};
}  // namespace

AttentionKind parse_attention_kind(const std::string& name) {
  for (const auto& [n, k] : kKinds)
    if (n == name) return k;
  throw Error("unknown attention '" + name + "': expected soft, softmax, linformer, performer or nystrom");
}

std::string attention_kind_name(AttentionKind kind) {
  for (const auto& [n, k] : kKinds)
    if (k == kind) return n;
  return "?";
}

}  // namespace soft::nn
