// The operator's view: per-route statistics in shared memory, the FlaskppStatus page and
// `apachectl -t -D DUMP_ROUTES`.
//
// Statistics: when any server sets FlaskppStatus, post_config (in the parent, once per
// configuration cycle, never in the dry run nor for -t) creates one anonymous shared memory
// segment in pconf with a slot per route of every server plus one per server for answers no
// single route gives (405, 308). The children inherit it by fork() and count into it with
// lock-free atomics (core/route_stats.hpp), so the page shows sums over every child. A graceful
// restart creates a new segment (counters start again at zero); the old children finish counting
// into the old one, which goes away with the last of them.
//
// The page: a request whose path is the server's FlaskppStatus path is claimed in translate_name
// (before the routes: the page wins over a route of the same path), skips the directory walk like
// a route, and is answered from the ordinary handler phase, so <Location> and Require apply. It is
// not a route: it is neither listed nor counted. GET (and HEAD) only; `?json` answers JSON.
#pragma once

#include <optional>

#include "core/router.hpp"
#include "glue/apache.hpp"

namespace flaskpp::core {
class App;
}

namespace flaskpp::glue {

// Counts one answer of a route when it leaves scope: the status is what the handler returned
// (operator() stores it; an HTTP status, or OK with the status in r->status), 500 when it threw;
// the latency runs from r->request_time to then. A no-op when no statistics are kept. Lives on
// one request thread.
class RouteOutcome {
 public:
  RouteOutcome(request_rec* r, const core::App& app, const core::RouteMatch& match) noexcept
      : r_(r), app_(app), match_(match) {}
  ~RouteOutcome();
  RouteOutcome(const RouteOutcome&) = delete;
  RouteOutcome& operator=(const RouteOutcome&) = delete;
  int operator()(int rc) noexcept {
    rc_ = rc;
    return rc;
  }

 private:
  request_rec* r_;
  const core::App& app_;
  const core::RouteMatch& match_;
  std::optional<int> rc_;
};

extern "C" {
const char* fpp_set_status(cmd_parms* cmd, void* dcfg, const char* path) noexcept;
int fpp_status_post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
void fpp_status_test_config(apr_pool_t* pconf, server_rec* s) noexcept;
int fpp_status_translate_name(request_rec* r) noexcept;
int fpp_status_map_to_storage(request_rec* r) noexcept;
int fpp_status_fixups(request_rec* r) noexcept;
int fpp_status_handler(request_rec* r) noexcept;
}

}  // namespace flaskpp::glue
