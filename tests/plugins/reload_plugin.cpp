// Built twice (RELOAD_VERSION 1 and 2): the graceful-restart test replaces version 1 by version 2
// under load and expects every request answered, by 1 before and 2 after.
#include <flaskpp/flaskpp.hpp>

FLASKPP_PLUGIN(app) {
  app.handler("reload.version", [](const flaskpp::Request&) { return flaskpp::jsonify({{"version", RELOAD_VERSION}}); });
}
