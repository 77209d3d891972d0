// Mustache templates (mstch) loaded from a TemplateSource and cached.
//
// Production: every template under the directory is read once at startup (preload); renders never
// touch the disk and take no lock. Development (auto_reload): each render checks the template's and
// its partials' modification stamps and re-reads what changed, under a shared mutex.
// Partials: {{> name}} resolves to name, name.mustache or name.html in the same directory.
// Escaping follows Jinja/MarkupSafe: & < > " ' are escaped in {{var}}; {{{var}}} is raw.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include <mstch/mstch.hpp>

#include "core/errors.hpp"

namespace flaskpp::core {

class TemplateSource {
 public:
  struct File {
    std::string text;
    std::int64_t stamp = 0;  // changes when the file changes (mtime and size)
  };
  virtual ~TemplateSource() = default;
  virtual std::optional<File> read(const std::string& name) const = 0;
  virtual std::optional<std::int64_t> stamp(const std::string& name) const = 0;
  virtual std::vector<std::string> list() const = 0;  // every template name, relative
  virtual std::string describe() const = 0;           // for messages, e.g. the directory
};

// Templates from a directory tree. Names are relative paths; '..' and absolute names are refused.
class DirectorySource final : public TemplateSource {
 public:
  explicit DirectorySource(std::string dir);
  std::optional<File> read(const std::string& name) const override;
  std::optional<std::int64_t> stamp(const std::string& name) const override;
  std::vector<std::string> list() const override;
  std::string describe() const override { return dir_; }

 private:
  std::string dir_;
};

bool is_safe_template_name(const std::string& name);

// The names a template (with its partials) refers to, found once when it is parsed: lets the
// caller build only the context keys it needs, and tell whether the output depends on the request.
struct TemplateUsage {
  std::set<std::string> names;        // first segment of every tag name ("config" for config.TITLE)
  bool config_all = false;            // {{#config}}...{{/config}} or {{config}}: every key
  std::set<std::string> config_keys;  // config.KEY used explicitly
  bool uses(const std::string& name) const { return names.count(name) != 0; }
};

class TemplateStore {
 public:
  TemplateStore(std::shared_ptr<const TemplateSource> source, bool auto_reload);

  // Reads and compiles every template of the source. Call once at startup.
  void preload();
  bool exists(const std::string& name) const;
  // Throws TemplateNotFound (template or one of its partials missing).
  std::string render(const std::string& name, const mstch::node& context) const;
  std::shared_ptr<const TemplateUsage> usage(const std::string& name) const;
  const TemplateSource& source() const { return *source_; }

 private:
  struct Parsed;  // mstch's token lists (its internal template_type), parsed once
  struct Compiled {
    std::string text;
    std::map<std::string, std::string> partials;                 // only those it uses
    std::vector<std::pair<std::string, std::int64_t>> deps;      // file -> stamp
    std::shared_ptr<const Parsed> parsed;
    std::shared_ptr<const TemplateUsage> usage;
  };
  std::shared_ptr<const Compiled> compile(const std::string& name) const;
  std::shared_ptr<const Compiled> lookup(const std::string& name) const;

  std::shared_ptr<const TemplateSource> source_;
  bool auto_reload_;
  mutable std::shared_mutex mu_;  // guards cache_ only when auto_reload_
  mutable std::map<std::string, std::shared_ptr<const Compiled>> cache_;
  std::map<std::string, std::string> failures_;  // production: templates that failed at preload, and why
};

// The partial names a template refers to ({{> name}}), in order of appearance.
std::vector<std::string> partial_names(const std::string& text);

}  // namespace flaskpp::core
