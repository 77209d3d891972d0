// A plugin whose on_start loads a "model" of size_mb MiB (pseudo-random bytes, every page
// written) in Apache's parent, for bench/model_memory.py: the children share it copy-on-write.
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <flaskpp/flaskpp.hpp>

namespace {
std::vector<std::uint64_t> g_model;  // written by on_start only; read-only afterwards
}

FLASKPP_PLUGIN(app) {
  app.on_start([](const flaskpp::PluginContext& ctx) {
    std::size_t mb = std::stoul(ctx.option("size_mb").value_or("64"));
    g_model.assign(mb * (1u << 20) / sizeof(std::uint64_t), 0);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (auto& v : g_model) {  // xorshift: distinct, incompressible pages (no zero-page sharing)
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      v = x;
    }
  });
  // Reads the whole model (as an inference would): the pages stay shared, reading does not copy.
  app.handler("bigmodel.sum", [](const flaskpp::Request&) {
    std::uint64_t sum = 0;
    for (auto v : g_model) sum += v;
    return flaskpp::jsonify({{"words", static_cast<long long>(g_model.size())},
                             {"sum", std::to_string(sum)},
                             {"pid", static_cast<long long>(::getpid())}});
  });
}
