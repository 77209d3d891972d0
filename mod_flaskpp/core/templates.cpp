#include "core/templates.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>

#include "core/request.hpp"
// mstch's own parser and renderer (from its source tree, which we compile): mstch::render() would
// re-parse the template and every partial on each call.
#include "render_context.hpp"
#include "template_type.hpp"

namespace fs = std::filesystem;

namespace flaskpp::core {

struct TemplateStore::Parsed {
  mstch::template_type main;
  std::map<std::string, mstch::template_type> partials;
};

namespace {

void install_escape() {
  static std::once_flag once;
  std::call_once(once, [] { mstch::config::escape = [](const std::string& s) { return html_escape(s); }; });
}

}  // namespace

bool is_safe_template_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find('\0') != std::string::npos) return false;
  fs::path p(name);
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

DirectorySource::DirectorySource(std::string dir) : dir_(std::move(dir)) {}

std::optional<std::int64_t> DirectorySource::stamp(const std::string& name) const {
  if (!is_safe_template_name(name)) return std::nullopt;
  std::error_code ec;
  fs::path p = fs::path(dir_) / name;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  auto t = fs::last_write_time(p, ec);
  if (ec) return std::nullopt;
  auto size = fs::file_size(p, ec);
  if (ec) return std::nullopt;
  // Mixed in unsigned arithmetic, which wraps: libstdc++'s file clock counts nanoseconds from 2174,
  // so a signed "count * 31" overflowed for every ordinary file. For a fixed size the mix is a
  // bijection of the mtime (odd multiplier), and for a fixed mtime one of the size, so a change of
  // either alone always changes the stamp.
  constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;  // odd: 2^64 / golden ratio
  std::uint64_t mixed = static_cast<std::uint64_t>(t.time_since_epoch().count()) * kMultiplier +
                        static_cast<std::uint64_t>(size);
  std::int64_t stamp;
  std::memcpy(&stamp, &mixed, sizeof stamp);  // same bits; a conversion could be out of range
  return stamp;
}

std::optional<TemplateSource::File> DirectorySource::read(const std::string& name) const {
  auto st = stamp(name);
  if (!st) return std::nullopt;
  std::ifstream in(fs::path(dir_) / name, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return File{ss.str(), *st};
}

std::vector<std::string> DirectorySource::list() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    std::string base = entry.path().filename().string();
    if (!base.empty() && base[0] == '.') {
      if (entry.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (entry.is_regular_file(ec)) out.push_back(fs::relative(entry.path(), dir_, ec).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> partial_names(const std::string& text) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string::npos) {
    std::size_t p = pos + 2;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
    if (p < text.size() && text[p] == '>') {
      auto close = text.find("}}", p);
      if (close == std::string::npos) break;
      std::string name = text.substr(p + 1, close - p - 1);
      auto b = name.find_first_not_of(" \t");
      auto e = name.find_last_not_of(" \t");
      if (b != std::string::npos) names.push_back(name.substr(b, e - b + 1));
      pos = close + 2;
    } else {
      pos = p;
    }
  }
  return names;
}

TemplateStore::TemplateStore(std::shared_ptr<const TemplateSource> source, bool auto_reload)
    : source_(std::move(source)), auto_reload_(auto_reload) {
  install_escape();
}

std::shared_ptr<const TemplateStore::Compiled> TemplateStore::compile(const std::string& name) const {
  auto file = source_->read(name);
  if (!file) throw TemplateNotFound("template '" + name + "' not found in " + source_->describe());
  auto c = std::make_shared<Compiled>();
  c->text = std::move(file->text);
  c->deps.emplace_back(name, file->stamp);
  // Resolve partials transitively; a partial may include itself (recursive structures).
  std::vector<std::string> pending = partial_names(c->text);
  std::set<std::string> seen;
  while (!pending.empty()) {
    std::string tag = pending.back();
    pending.pop_back();
    if (!seen.insert(tag).second) continue;
    std::optional<TemplateSource::File> pf;
    std::string resolved;
    for (const char* ext : {"", ".mustache", ".html"}) {
      resolved = tag + ext;
      if ((pf = source_->read(resolved))) break;
    }
    if (!pf) {
      throw TemplateNotFound("partial '" + tag + "' used by template '" + name + "' not found in " +
                             source_->describe() + " (tried " + tag + ", " + tag + ".mustache, " + tag + ".html)");
    }
    for (auto& n : partial_names(pf->text)) pending.push_back(std::move(n));
    c->deps.emplace_back(resolved, pf->stamp);
    c->partials.emplace(tag, std::move(pf->text));
  }
  auto parsed = std::make_shared<Parsed>();
  parsed->main = mstch::template_type(c->text);
  for (const auto& [tag, text] : c->partials) parsed->partials.emplace(tag, mstch::template_type(text));
  auto usage = std::make_shared<TemplateUsage>();
  auto scan = [&usage](const mstch::template_type& t) {
    using type = mstch::token::type;
    for (const auto& tok : t) {
      type k = tok.token_type();
      if (k != type::variable && k != type::unescaped_variable && k != type::section_open &&
          k != type::inverted_section_open) {
        continue;
      }
      const std::string& n = tok.name();
      if (n.empty() || n == ".") continue;
      auto dot = n.find('.');
      std::string first = n.substr(0, dot);
      usage->names.insert(first);
      if (first == "config") {
        if (dot == std::string::npos) usage->config_all = true;
        else usage->config_keys.insert(n.substr(dot + 1, n.find('.', dot + 1) - dot - 1));
      }
    }
  };
  scan(parsed->main);
  for (const auto& [tag, t] : parsed->partials) scan(t);
  c->usage = std::move(usage);
  c->parsed = std::move(parsed);
  return c;
}

void TemplateStore::preload() {
  std::map<std::string, std::shared_ptr<const Compiled>> fresh;
  std::map<std::string, std::string> failed;
  for (const auto& name : source_->list()) {
    try {
      fresh.emplace(name, compile(name));
    } catch (const TemplateNotFound& e) {
      failed.emplace(name, e.what());  // a partial is missing: rendering it reports why
    }
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_.swap(fresh);
  failures_.swap(failed);
}

std::shared_ptr<const TemplateStore::Compiled> TemplateStore::lookup(const std::string& name) const {
  if (!auto_reload_) {
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
    // Not cached: the reason was found at startup; no disk access on the request path.
    auto failure = failures_.find(name);
    if (failure != failures_.end()) throw TemplateNotFound(failure->second);
    throw TemplateNotFound("template '" + name + "' not found in " + source_->describe() +
                           " when Apache started (a template added after startup needs a reload of Apache)");
  }
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = cache_.find(name);
    if (it != cache_.end()) {
      bool fresh = std::all_of(it->second->deps.begin(), it->second->deps.end(), [&](const auto& d) {
        auto st = source_->stamp(d.first);
        return st && *st == d.second;
      });
      if (fresh) return it->second;
    }
  }
  if (!is_safe_template_name(name)) throw TemplateNotFound("template name '" + name + "' is not allowed");
  auto compiled = compile(name);
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_[name] = compiled;
  return compiled;
}

bool TemplateStore::exists(const std::string& name) const {
  if (!auto_reload_) return cache_.count(name) != 0;
  return source_->stamp(name).has_value();
}

std::shared_ptr<const TemplateUsage> TemplateStore::usage(const std::string& name) const {
  return lookup(name)->usage;
}

std::string TemplateStore::render(const std::string& name, const mstch::node& context) const {
  auto c = lookup(name);
  return mstch::render_context(context, c->parsed->partials).render(c->parsed->main);
}

}  // namespace flaskpp::core
