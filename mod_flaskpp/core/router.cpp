// The segment tree: Router::add inserts compiled parts, match walks it in Werkzeug's order.
#include "core/router.hpp"

#include <algorithm>

#include "core/router_internal.hpp"

namespace flaskpp::core {

namespace {

struct MatchCtx {
  unsigned bit = 0;
  unsigned have_match_for = 0;
  bool slash_required = false;
  std::string_view path;
  const std::vector<CompiledRule>* rules = nullptr;
};

bool rules_accept(const std::vector<std::size_t>& rule_ids, MatchCtx& ctx, std::size_t& out) {
  for (std::size_t id : rule_ids) {
    unsigned m = (*ctx.rules)[id].methods;
    if (m & ctx.bit) {
      out = id;
      return true;
    }
    ctx.have_match_for |= m;
  }
  return false;
}

bool match_state(const Router::State& st, const std::vector<std::string_view>& parts, std::size_t idx,
                 std::vector<std::string_view>& values, MatchCtx& ctx, std::size_t& out) {
  if (idx == parts.size()) {
    if (rules_accept(st.rules, ctx, out)) return true;
    auto it = st.statics.find("");
    if (it != st.statics.end()) {
      for (std::size_t id : it->second->rules) {
        if ((*ctx.rules)[id].methods & ctx.bit) {
          ctx.slash_required = true;
          return false;
        }
      }
    }
    return false;
  }
  std::string_view part = parts[idx];
  auto it = st.statics.find(part);
  if (it != st.statics.end()) {
    if (match_state(*it->second, parts, idx + 1, values, ctx, out)) return true;
    if (ctx.slash_required) return false;
  }
  for (const auto& [p, next] : st.dynamic) {
    std::size_t mark = values.size();
    if (p.final) {
      // The rest of the path, slashes included; parts are views into the one path string.
      std::string_view rest(part.data(), static_cast<std::size_t>(ctx.path.data() + ctx.path.size() - part.data()));
      if (match_part(p.tokens, rest, values)) {
        if (match_state(*next, parts, parts.size(), values, ctx, out)) return true;
        values.resize(mark);
        if (ctx.slash_required) return false;
      } else if (p.trailing_slash && (rest.empty() || rest.back() != '/')) {
        std::string with_slash = std::string(rest) + "/";
        std::vector<std::string_view> scratch;
        if (match_part(p.tokens, with_slash, scratch)) {
          for (std::size_t id : next->rules) {
            if ((*ctx.rules)[id].methods & ctx.bit) {
              ctx.slash_required = true;
              return false;
            }
          }
        }
      }
      continue;
    }
    if (match_part(p.tokens, part, values)) {
      if (match_state(*next, parts, idx + 1, values, ctx, out)) return true;
      values.resize(mark);
      if (ctx.slash_required) return false;
    }
  }
  return false;
}

// A request's method as a bit: any method outside the standard seven is an extension method.
unsigned request_method_bit(std::string_view name) {
  unsigned bit = method_bit(name);
  return bit == 0 && !name.empty() ? method::kExtension : bit;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::string_view rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return parts;
}

}  // namespace

Router::Router() : root_(std::make_unique<State>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

std::size_t Router::add(std::string_view methods, std::string_view pattern) {
  CompiledRule rule;
  rule.pattern = std::string(pattern);
  rule.methods = parse_methods(methods, &rule.explicit_options);
  std::vector<RulePart> parts = compile_pattern(pattern, rule);
  State* st = root_.get();
  for (auto& part : parts) {
    if (part.is_static) {
      auto& next = st->statics[part.text];
      if (!next) next = std::make_unique<State>();
      st = next.get();
      continue;
    }
    auto same = std::find_if(st->dynamic.begin(), st->dynamic.end(),
                             [&](const auto& d) { return d.first.key == part.key; });
    if (same != st->dynamic.end()) {
      st = same->second.get();
      continue;
    }
    // Stable insertion: after every transition of lower or equal weight.
    auto pos = std::find_if(st->dynamic.begin(), st->dynamic.end(),
                            [&](const auto& d) { return part.weight < d.first.weight; });
    auto inserted = st->dynamic.insert(pos, {std::move(part), std::make_unique<State>()});
    st = inserted->second.get();
  }
  st->rules.push_back(rules_.size());
  rules_.push_back(std::move(rule));
  return rules_.size() - 1;
}

RouteMatch Router::match(std::string_view path, std::string_view method) const {
  RouteMatch result;
  if (path.empty() || path.front() != '/') return result;
  std::vector<std::string_view> parts = split_path(path);
  MatchCtx ctx;
  ctx.bit = request_method_bit(method);
  ctx.path = path;
  ctx.rules = &rules_;
  std::vector<std::string_view> values;
  std::size_t id = 0;
  bool found = match_state(*root_, parts, 0, values, ctx, id);
  if (ctx.slash_required) {
    result.kind = RouteMatch::Kind::kRedirect;
    result.redirect_path = std::string(path) + "/";
    return result;
  }
  if (!found) {
    if (ctx.have_match_for) {
      result.kind = RouteMatch::Kind::kMethodNotAllowed;
      result.allowed = method_names(ctx.have_match_for);
    }
    return result;
  }
  const CompiledRule& rule = rules_[id];
  result.rule = id;
  for (std::size_t k = 0; k < values.size() && k < rule.converters.size(); ++k) {
    ParamValue v;
    if (!convert_value(rule.converters[k], values[k], v)) {
      result.kind = RouteMatch::Kind::kNotFound;
      result.params.clear();
      return result;
    }
    result.params.emplace_back(rule.param_names[k], std::move(v));
  }
  if (ctx.bit == method::kOptions && !rule.explicit_options) {
    result.kind = RouteMatch::Kind::kOptions;
    result.allowed = allowed_methods(path);
    return result;
  }
  result.kind = RouteMatch::Kind::kMatch;
  return result;
}

std::vector<std::string> Router::allowed_methods(std::string_view path) const {
  if (path.empty() || path.front() != '/') return {};
  std::vector<std::string_view> parts = split_path(path);
  MatchCtx ctx;
  ctx.bit = 0;
  ctx.path = path;
  ctx.rules = &rules_;
  std::vector<std::string_view> values;
  std::size_t id = 0;
  match_state(*root_, parts, 0, values, ctx, id);
  return method_names(ctx.have_match_for);
}

}  // namespace flaskpp::core
