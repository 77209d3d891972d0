#include "glue/config.hpp"

#include "glue/boundary.hpp"
#include "glue/lifecycle.hpp"
#include "glue/pool.hpp"

extern "C" {
extern module AP_MODULE_DECLARE_DATA flaskpp_module;
}

namespace flaskpp::glue {


extern "C" void* fpp_create_server_config(apr_pool_t* p, server_rec*) noexcept {
  try {
    return make_pool_owned<ServerConfig>(p);
  } catch (const std::exception& e) {
    note_config_failure(p, "create a server configuration", e.what());
  } catch (...) {
    note_config_failure(p, "create a server configuration", "unknown error");
  }
  return nullptr;
}

extern "C" void* fpp_merge_server_config(apr_pool_t* p, void* base_v, void* add_v) noexcept {
  try {
    const auto* base = static_cast<const ServerConfig*>(base_v);
    const auto* add = static_cast<const ServerConfig*>(add_v);
    if (!base || !add) return nullptr;  // creation failed and was reported
    auto* merged = make_pool_owned<ServerConfig>(p);
    merged->routes = base->routes;
    merged->routes.insert(merged->routes.end(), add->routes.begin(), add->routes.end());
    merged->template_dir = add->template_dir.empty() ? base->template_dir : add->template_dir;
    merged->config_items = base->config_items;
    merged->config_items.insert(merged->config_items.end(), add->config_items.begin(), add->config_items.end());
    merged->env = add->env ? add->env : base->env;
    merged->error_templates = base->error_templates;
    for (const auto& [code, name] : add->error_templates) merged->error_templates[code] = name;
    bool add_dir = !add->upload_dir.empty();
    merged->upload_dir = add_dir ? add->upload_dir : base->upload_dir;
    merged->upload_url = add_dir ? add->upload_url : base->upload_url;
    merged->upload_work_dir = add->upload_work_dir.empty() ? base->upload_work_dir : add->upload_work_dir;
    merged->upload_allow = add->upload_allow.empty() ? base->upload_allow : add->upload_allow;
    merged->max_body = add->max_body ? add->max_body : base->max_body;
    merged->max_parts = add->max_parts ? add->max_parts : base->max_parts;
    merged->quick_handler = add->quick_handler ? add->quick_handler : base->quick_handler;
    merged->secret_sources = add->secret_sources.empty() ? base->secret_sources : add->secret_sources;
    merged->static_max_age_prefixes = base->static_max_age_prefixes;
    merged->static_max_age_prefixes.insert(merged->static_max_age_prefixes.end(), add->static_max_age_prefixes.begin(),
                                           add->static_max_age_prefixes.end());
    merged->rate_rules = base->rate_rules;
    merged->rate_rules.insert(merged->rate_rules.end(), add->rate_rules.begin(), add->rate_rules.end());
    merged->status_path = add->status_path ? add->status_path : base->status_path;
    merged->openapi = add->openapi ? add->openapi : base->openapi;
    merged->swagger_ui = add->swagger_ui ? add->swagger_ui : base->swagger_ui;
    return merged;
  } catch (const std::exception& e) {
    note_config_failure(p, "merge a virtual host's configuration", e.what());
  } catch (...) {
    note_config_failure(p, "merge a virtual host's configuration", "unknown error");
  }
  return nullptr;
}

ServerConfig* server_config(server_rec* s) {
  return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &flaskpp_module));
}

core::AppSettings settings_from(const ServerConfig& cfg) {
  core::AppSettings settings;
  settings.env = cfg.env.value_or(core::Env::kProduction);
  for (const auto& item : cfg.config_items) {
    if (item.only_env && *item.only_env != settings.env) continue;
    if (item.key.empty()) settings.config.merge_object(*item.value);
    else settings.config.set(item.key, *item.value);
  }
  settings.template_dir = cfg.template_dir;
  settings.error_templates = cfg.error_templates;
  settings.upload_dir = cfg.upload_dir;
  settings.upload_url = cfg.upload_url;
  settings.upload_work_dir = cfg.upload_work_dir;
  settings.upload_allow = cfg.upload_allow;
  settings.max_body = cfg.max_body;
  settings.max_parts = cfg.max_parts;
  settings.rate_limits.rules = cfg.rate_rules;
  return settings;
}

}  // namespace flaskpp::glue
