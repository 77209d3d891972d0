// The request pipeline inside App: named stages around the body read and the action, so features
// add a stage instead of editing one long function (the shape of Crow's middleware).
//
//   before_body   rate limits, checks on the request head (415 for a wrong Content-Type, ...)
//   -- the body is read (streamed; uploads go to the exchange's UploadSession) --
//   after_body    session load, body validation
//   -- the route's action builds the answer --
//   after_action  session save, headers; runs for error answers of a matched route too
//
// A stage refuses a request by throwing a typed HttpError (core/errors.hpp); App turns it into
// the answer. Stages are built with the App and are read-only afterwards: any per-request data
// lives in the Exchange.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/logger.hpp"
#include "core/request.hpp"
#include "core/response.hpp"
#include "core/route_decl.hpp"
#include "core/router.hpp"
#include "core/uploads.hpp"

namespace flaskpp::core {

class SessionState;

// One matched request on its way through the pipeline.
struct Exchange {
  Request& request;
  const RouteMatch& match;
  const RouteDecl& route;
  Logger& log;
  std::unique_ptr<UploadSession> uploads;  // upload routes: the files of the body, uncommitted
  // Headers a stage wants on the final answer, error answers included (X-RateLimit-*, Vary, ...).
  std::vector<std::pair<std::string, std::string>> answer_headers;
  std::unique_ptr<SessionState> session;  // the session stage's; request.session points to it
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual const char* name() const = 0;
  virtual void before_body(Exchange&) const {}
  virtual void after_body(Exchange&) const {}
  virtual void after_action(Exchange&, Response&) const {}
};

}  // namespace flaskpp::core
