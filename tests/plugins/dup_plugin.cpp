// Registers a handler name that is taken (the built-in echo) and another one twice.
#include <flaskpp/flaskpp.hpp>

FLASKPP_PLUGIN(app) {
  auto f = [](const flaskpp::Request&) { return flaskpp::jsonify({{"dup", true}}); };
  if (app.name() == "dupself") {
    app.handler("d.twice", f);
    app.handler("d.twice", f);
  } else {
    app.handler("echo", f);
  }
}
