// The actions a route can name: template, redirect, handler, upload. Also the template context
// they share.
#include <climits>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/session_stage.hpp"

namespace flaskpp::core {

namespace {

mstch::node param_node(const ParamValue& v) {
  switch (v.kind) {
    case ConverterKind::kInt:
      if (v.int_value >= INT_MIN && v.int_value <= INT_MAX) return static_cast<int>(v.int_value);
      return std::to_string(v.int_value);  // mstch has no 64-bit int and prints doubles as 1e+10
    default:
      // floats too: mstch would print 6 significant digits; the URL's digits are exact. A page is
      // UTF-8: bytes a URL decodes to that are not become U+FFFD, as Werkzeug does.
      return sanitize_utf8(v.text);
  }
}

}  // namespace

Response redirect_response(int status, const std::string& location) {
  Response resp;
  resp.status = status;
  resp.headers.emplace_back("Location", location);
  resp.content_type = "text/html; charset=utf-8";
  std::string t = html_escape(location);
  resp.body = "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
              "<p>You should be redirected automatically to the target URL: <a href=\"" + t + "\">" + t +
              "</a>. If not, click the link.\n";
  return resp;
}

mstch::map App::template_context(const Request& request, const Params& params, const TemplateUsage* usage) const {
  mstch::map ctx;
  auto wanted = [usage](const char* name) { return !usage || usage->uses(name); };
  if (wanted("args")) {
    mstch::map args;
    for (const auto& [k, v] : parse_query(request.query)) args.emplace(sanitize_utf8(k), sanitize_utf8(v));  // first wins
    ctx.emplace("args", std::move(args));
  }
  if (wanted("form")) {
    mstch::map form;
    for (const auto& [k, v] : request.form) form.emplace(sanitize_utf8(k), sanitize_utf8(v));  // first value wins
    ctx.emplace("form", std::move(form));
  }
  if (!usage || usage->config_all) {
    ctx.emplace("config", config_view_);
  } else if (usage->uses("config")) {
    const auto& all = boost::get<mstch::map>(config_view_);
    mstch::map some;
    for (const auto& key : usage->config_keys) {
      auto it = all.find(key);
      if (it != all.end()) some.emplace(key, it->second);
    }
    ctx.emplace("config", std::move(some));
  }
  if (wanted("request")) {
    mstch::map cookies;
    for (const auto& [k, v] : request.cookies()) cookies.emplace(sanitize_utf8(k), sanitize_utf8(v));
    ctx.emplace("request", mstch::map{{"method", sanitize_utf8(request.method)},
                                      {"path", sanitize_utf8(request.path)},
                                      {"url", sanitize_utf8(request.url())},
                                      {"remote_addr", request.remote_addr},
                                      {"cookies", std::move(cookies)}});
  }
  if (wanted("env")) ctx.emplace("env", std::string(env_name(settings_.env)));
  // Only when the template names them: reading the session makes the answer vary by Cookie.
  if (usage && usage->uses("session")) {
    ctx.emplace("session", request.session ? to_mstch(request.session->read()) : mstch::node(mstch::map{}));
  }
  if (usage && usage->uses("flashes")) {
    // Flask's get_flashed_messages(with_categories=True): shown once, then gone from the session.
    mstch::array flashes;
    if (request.session && request.session->read().HasMember("_flashes")) {
      for (auto& f : take_flashes(request.session->write())) {
        flashes.emplace_back(mstch::map{{"category", f.category}, {"message", f.message}});
      }
    }
    ctx.emplace("flashes", std::move(flashes));
  }
  for (const auto& [name, value] : params) ctx[name] = param_node(value);
  return ctx;
}

std::string App::render(const std::string& name, const mstch::node& context) const {
  renders_.fetch_add(1, std::memory_order_relaxed);
  return templates_->render(name, context);
}

std::string App::render_page(const std::string& name, const Request& request, const Params& params,
                             const rapidjson::Value* extra) const {
  if (!templates_) throw InternalError("render_template('" + name + "') needs FlaskppTemplateDir");
  mstch::map ctx = template_context(request, params, templates_->usage(name).get());
  if (extra && extra->IsObject()) {
    for (const auto& member : extra->GetObject()) {
      ctx[std::string(member.name.GetString(), member.name.GetStringLength())] = to_mstch(member.value);
    }
  }
  return render(name, ctx);
}

Response App::template_action(const RouteDecl& route, const Request& request, const RouteMatch& match) const {
  Response resp;
  resp.content_type = "text/html; charset=utf-8";
  PageCache* cache = page_caches_[match.rule].get();
  std::string key;
  if (cache) {
    for (const auto& p : match.params) {
      key += p.second.text;
      key += '\0';
    }
    if (const std::string* page = cache->find(key)) {
      resp.body = *page;
      return resp;
    }
  }
  auto usage = templates_->usage(route.target);
  resp.body = render(route.target, template_context(request, match.params, usage.get()));
  if (cache) cache->insert(std::move(key), resp.body);
  return resp;
}

Response App::upload_answer(const RouteDecl& route, const Request& request, const RouteMatch& match,
                            const std::vector<FileInfo>& saved) const {
  Response resp;
  if (route.then_template.empty()) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("files");
    w.StartArray();
    for (const FileInfo& f : saved) write_file_info(w, f, true);
    w.EndArray();
    w.Key("img_show");
    write_string(w, saved.empty() ? std::string() : saved.front().url);
    w.EndObject();
    resp.content_type = json_mimetype_;
    resp.body = std::string(buf.GetString(), buf.GetSize()) + "\n";
    return resp;
  }
  mstch::map ctx = template_context(request, match.params);
  mstch::array files;
  for (const FileInfo& f : saved) {
    files.push_back(mstch::map{{"url", f.url},
                               {"filename", f.filename},
                               {"saved_as", f.saved_as},
                               {"size", f.size <= static_cast<std::uint64_t>(INT_MAX)
                                            ? mstch::node(static_cast<int>(f.size))
                                            : mstch::node(std::to_string(f.size))}});
  }
  ctx["img_show"] = saved.empty() ? std::string() : saved.front().url;
  ctx["files"] = std::move(files);
  resp.content_type = "text/html; charset=utf-8";
  resp.body = render(route.then_template, ctx);
  return resp;
}

// All or nothing: names are planned and the answer is built from them; App::handle places the
// files once the answer is final. A failing render throws before anything is placed (the
// session's destructor removes the temporary files, and replace=on has deleted nothing).
Response App::upload_action(const Exchange& ex) const {
  return upload_answer(ex.route, ex.request, ex.match, ex.uploads->plan());
}

Response App::run_action(Exchange& ex) const {
  const RouteDecl& route = ex.route;
  switch (route.action) {
    case ActionKind::kTemplate:
      return template_action(route, ex.request, ex.match);
    case ActionKind::kRedirect:
      return redirect_response(route.redirect_code, route.target);
    case ActionKind::kHandler:
      return (*route_handlers_[ex.match.rule])(HandlerContext{*this, ex.request, ex.match.params, ex.log});
    case ActionKind::kUpload:
      return upload_action(ex);
    case ActionKind::kJob:
      return job_action(ex);
    case ActionKind::kJobStatus:
      return job_status_action(ex);
    case ActionKind::kJobCancel:
      return job_cancel_action(ex);
  }
  throw InternalError("unknown action");
}

}  // namespace flaskpp::core
