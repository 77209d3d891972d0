#include "glue/status.hpp"
#include "glue/server_text.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <apr_shm.h>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/request.hpp"
#include "core/route_stats.hpp"
#include "core/status_page.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"
#include "glue/pool.hpp"

namespace flaskpp::glue {

namespace {

constexpr const char* kStatsKey = "flaskpp:route-stats";
constexpr const char* kStatusHandler = "flaskpp-status";
constexpr std::size_t kShmAlign = 64;  // APR's anonymous segment starts 8 bytes into the mapping

// The statistics of one configuration cycle: pconf userdata (pool-owned), created in post_config
// in the parent before the children are forked, read-only afterwards. `stats` points into the
// shared segment, whose counters are the only thing that changes (atomically).
struct StatsState {
  core::RouteStats stats;
  // First slot of each App's routes; slot first + route_count() takes its other answers.
  std::unordered_map<const core::App*, std::size_t> first_slot;
};

const StatsState* stats_state(apr_pool_t* pconf) {
  void* data = nullptr;
  apr_pool_userdata_get(&data, kStatsKey, pconf);
  return static_cast<const StatsState*>(data);
}


bool wants_json(const request_rec* r) {
  if (!r->args) return false;
  for (const auto& [key, value] : core::parse_query(r->args)) {
    if (key == "json") return true;
  }
  return false;
}

core::StatusReport build_report(request_rec* r) {
  core::StatusReport report;
  report.server = server_label(r->server, r->connection->local_addr ? r->connection->local_addr->port : 0);
  report.now_unix = apr_time_sec(apr_time_now());
  ServerConfig* cfg = server_config(r->server);
  const core::App* app = cfg && cfg->app ? cfg->app.get() : nullptr;
  const StatsState* st = stats_state(r->server->process->pconf);
  std::size_t first = 0;
  if (app && st) {
    auto it = st->first_slot.find(app);
    if (it != st->first_slot.end()) {
      report.counting = true;
      first = it->second;
    }
  }
  if (st) report.since_unix = st->stats.created_unix();
  if (!app) return report;
  for (std::size_t i = 0; i < app->route_count(); ++i) {
    core::StatusRoute row;
    row.route = app->route(i);
    for (const core::RateRule* rule : app->rate_rules_for(i)) {
      row.limits.push_back(rule->spec + " (by " + (rule->header.empty() ? std::string("address") : "header " + rule->header) +
                           ", " + (rule->strategy == core::RateStrategy::kFixedWindow ? "fixed-window" : "sliding-window") +
                           (rule->pattern == "*" ? ", every route)" : ")"));
    }
    if (report.counting) row.stats = st->stats.snapshot(first + i);
    report.routes.push_back(std::move(row));
  }
  if (report.counting) report.other = st->stats.snapshot(first + app->route_count());
  return report;
}

}  // namespace

RouteOutcome::~RouteOutcome() {
  try {
    const StatsState* st = stats_state(r_->server->process->pconf);
    if (!st) return;
    auto it = st->first_slot.find(&app_);
    if (it == st->first_slot.end()) return;
    std::size_t slot = it->second + app_.route_count();  // other answers (405, 308)
    switch (match_.kind) {
      case core::RouteMatch::Kind::kMatch:
      case core::RouteMatch::Kind::kNotFound:
      case core::RouteMatch::Kind::kOptions:
        if (match_.rule < app_.route_count()) slot = it->second + match_.rule;
        break;
      default:
        break;
    }
    // OK (or AP_FILTER_ERROR, DONE): the answer's status is in r->status; else the handler's code.
    int status = !rc_ ? HTTP_INTERNAL_SERVER_ERROR : *rc_ >= 100 ? *rc_ : r_->status;
    apr_time_t elapsed = apr_time_now() - r_->request_time;
    st->stats.record(slot, status, elapsed > 0 ? static_cast<std::uint64_t>(elapsed) : 0);
  } catch (...) {
    // Counting never fails a request.
  }
}

extern "C" const char* fpp_set_status(cmd_parms* cmd, void*, const char* path) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    ServerConfig* cfg = &directive_config(cmd);
    if (strcasecmp(path, "Off") == 0) {
      cfg->status_path = std::string();  // set, and off: a virtual host turns the main server's page off
      return nullptr;
    }
    std::string p = path;
    bool plain = plain_url_path(p);
    if (!plain) {
      throw core::ConfigError("'" + p + "' must be a plain URL path such as /flaskpp-status (no query, '%', "
                              "spaces, empty or dot segments), or Off");
    }
    cfg->status_path = p;
    return nullptr;
  });
}

// Creates the statistics segment when some server shows a status page. In the parent, once per
// configuration cycle; not in the dry run httpd makes at startup, nor for `apachectl -t`.
extern "C" int fpp_status_post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* base) noexcept {
  return guard_hook(nullptr, base, [&]() -> int {
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;  // dry run
    bool wanted = false;
    for (server_rec* s = base; s; s = s->next) {
      ServerConfig* cfg = server_config(s);
      if (!cfg || !cfg->status_path || cfg->status_path->empty()) continue;
      wanted = true;
      if (cfg->app && cfg->app->match(*cfg->status_path, "GET").kind != core::RouteMatch::Kind::kNoMatch) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, FPPLOGNO(00058)
                     "mod_flaskpp: FlaskppStatus %s is also a route's path on %s; the status page answers it%s",
                     cfg->status_path->c_str(), server_label(s).c_str(),
                     cfg->quick_handler.value_or(false) ? " (except from the quick handler)" : "");
      }
    }
    if (!wanted) return OK;
    auto* state = make_pool_owned<StatsState>(pconf);
    std::size_t slots = 0;
    for (server_rec* s = base; s; s = s->next) {
      ServerConfig* cfg = server_config(s);
      if (!cfg || !cfg->app || state->first_slot.count(cfg->app.get())) continue;
      state->first_slot.emplace(cfg->app.get(), slots);
      slots += cfg->app->route_count() + 1;
    }
    std::size_t bytes = core::RouteStats::bytes_needed(slots);
    apr_shm_t* shm = nullptr;
    // Anonymous: inherited by the children through fork(), destroyed with pconf.
    apr_status_t rv = apr_shm_create(&shm, bytes + kShmAlign, nullptr, pconf);
    if (rv != APR_SUCCESS) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, base, FPPLOGNO(00057)
                   "mod_flaskpp: cannot create %" APR_SIZE_T_FMT " bytes of shared memory for FlaskppStatus",
                   bytes + kShmAlign);
      return HTTP_INTERNAL_SERVER_ERROR;
    }
    auto addr = reinterpret_cast<std::uintptr_t>(apr_shm_baseaddr_get(shm));
    addr = (addr + kShmAlign - 1) / kShmAlign * kShmAlign;
    state->stats = core::RouteStats::create(reinterpret_cast<void*>(addr), bytes, slots, apr_time_sec(apr_time_now()));
    apr_pool_userdata_set(state, kStatsKey, apr_pool_cleanup_null, pconf);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, base, FPPLOGNO(00056)
                 "mod_flaskpp: route statistics for FlaskppStatus: %" APR_SIZE_T_FMT " slot(s) in %" APR_SIZE_T_FMT
                 " bytes of shared memory", slots, bytes);
    return OK;
  });
}

// `apachectl -t -D DUMP_ROUTES`: every server's compiled route table on stdout, like -D DUMP_VHOSTS.
// check_config has built each server's App by now.
extern "C" void fpp_status_test_config(apr_pool_t* pconf, server_rec* base) noexcept {
  guard_hook(nullptr, base, [&]() -> int {
    if (!ap_exists_config_define("DUMP_ROUTES")) return OK;
    apr_file_t* out = nullptr;
    if (apr_file_open_stdout(&out, pconf) != APR_SUCCESS) return OK;
    apr_file_printf(out, "mod_flaskpp route table:\n");
    // The main server, then the virtual hosts in the order they are declared (httpd links each new
    // <VirtualHost> in front of the previous ones).
    std::vector<server_rec*> servers;
    for (server_rec* s = base->next; s; s = s->next) servers.push_back(s);
    std::reverse(servers.begin(), servers.end());
    servers.insert(servers.begin(), base);
    for (server_rec* s : servers) {
      ServerConfig* cfg = server_config(s);
      if (!cfg) continue;
      std::string where = s->is_virtual && s->defn_name
                              ? std::string("virtual host, ") + s->defn_name + ":" + std::to_string(s->defn_line_number)
                              : std::string("main server");
      std::size_t n = cfg->app ? cfg->app->route_count() : 0;
      apr_file_printf(out, "%s (%s): %" APR_SIZE_T_FMT " route(s)\n", server_label(s).c_str(), where.c_str(), n);
      for (std::size_t i = 0; i < n; ++i) {
        const core::RouteDecl& route = cfg->app->route(i);
        std::string line = core::route_line(route);
        apr_file_printf(out, "    %s%s%s\n", line.c_str(), route.where.empty() ? "" : "  # ", route.where.c_str());
      }
      if (cfg->status_path && !cfg->status_path->empty()) {
        apr_file_printf(out, "    (FlaskppStatus %s)\n", cfg->status_path->c_str());
      }
    }
    apr_file_flush(out);
    return OK;
  });
}

extern "C" int fpp_status_translate_name(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (r->proxyreq || !r->uri || r->uri[0] != '/') return DECLINED;
    ServerConfig* cfg = server_config(r->server);
    if (!cfg || !cfg->status_path || cfg->status_path->empty() || *cfg->status_path != r->uri) return DECLINED;
    r->handler = kStatusHandler;
    // Not a file: a synthetic name, so no file is mapped and map_to_storage can skip the walk.
    r->filename = apr_pstrcat(r->pool, "flaskpp-status:", r->uri, nullptr);
    return OK;
  });
}

// The page is not a file: no directory walk (<Location> still applies).
extern "C" int fpp_status_map_to_storage(request_rec* r) noexcept {
  return r->handler && std::strcmp(r->handler, kStatusHandler) == 0 ? OK : DECLINED;
}

// mod_mime may have re-assigned the handler from the (synthetic) file name; ours stands.
extern "C" int fpp_status_fixups(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (r->filename && std::strncmp(r->filename, "flaskpp-status:", 15) == 0) {
      ServerConfig* cfg = server_config(r->server);
      if (cfg && cfg->status_path && *cfg->status_path == r->uri) r->handler = kStatusHandler;
    }
    return DECLINED;
  });
}

extern "C" int fpp_status_handler(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (!r->handler || std::strcmp(r->handler, kStatusHandler) != 0) return DECLINED;
    // Apache's 405 builds Allow from r->allowed_methods (GET implies HEAD there).
    ap_allow_standard_methods(r, MERGE_ALLOW, M_GET, -1);
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    core::StatusReport report = build_report(r);
    bool json = wants_json(r);
    std::string body = json ? core::render_status_json(report) : core::render_status_html(report);
    ap_set_content_type(r, json ? "application/json" : "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return OK;
  });
}

}  // namespace flaskpp::glue
