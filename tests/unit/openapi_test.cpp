// OpenAPI 3.1 document from the route table; Swagger UI page.
//
// FLASKPP_OPENAPI_DUMP=FILE writes the realistic document to FILE; FLASKPP_OPENAPI_VALIDATE=SCRIPT
// (tests/openapi/validate.sh) runs the OpenAPI validator on it and on broken documents.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/handlers.hpp"
#include "core/openapi.hpp"
#include "core/rapidjson.hpp"
#include "core/route_decl.hpp"
#include "test_support.hpp"

#include <rapidjson/pointer.h>

namespace flaskpp::core {
namespace {

OpenApiRoute route(const std::vector<std::string>& args) { return openapi_route(parse_route(args)); }

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

rapidjson::Document build(const std::vector<OpenApiRoute>& routes, std::vector<std::string>* warnings = nullptr) {
  OpenApiInput in;
  in.title = "Test API";
  in.version = "2.0";
  in.routes = routes;
  return parse(build_openapi(in, warnings));
}

// The value at a JSON Pointer ("/paths/~1users~1{id}/get"), or null.
const rapidjson::Value* at(const rapidjson::Value& doc, const std::string& pointer) {
  return rapidjson::Pointer(pointer.c_str()).Get(doc);
}

std::string json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// The JSON text of the value at pointer, or "<missing>".
std::string json_at(const rapidjson::Value& doc, const std::string& pointer) {
  const rapidjson::Value* v = at(doc, pointer);
  return v ? json(*v) : "<missing>";
}

// A key as one JSON Pointer token: "/users/{id}" -> "~1users~1{id}".
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

std::vector<std::string> keys(const rapidjson::Value* v) {
  std::vector<std::string> out;
  if (v && v->IsObject()) {
    for (const auto& m : v->GetObject()) out.emplace_back(m.name.GetString());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Paths and parameters

TEST(OpenApiPath, EveryConverter) {
  struct Case {
    const char* pattern;
    const char* path;
    const char* schema;
  };
  const Case cases[] = {
      {"/u/<name>", "/u/{name}", R"({"type":"string","minLength":1})"},
      {"/u/<string:name>", "/u/{name}", R"({"type":"string","minLength":1})"},
      {"/u/<string(length=3):code>", "/u/{code}", R"({"type":"string","minLength":3,"maxLength":3})"},
      {"/u/<string(minlength=2,maxlength=5):s>", "/u/{s}", R"({"type":"string","minLength":2,"maxLength":5})"},
      {"/u/<string(maxlength=8):s>", "/u/{s}", R"({"type":"string","minLength":1,"maxLength":8})"},
      {"/users/<int(min=1,max=9):id>", "/users/{id}", R"({"type":"integer","minimum":1,"maximum":9})"},
      {"/u/<int:id>", "/u/{id}", R"({"type":"integer","minimum":0})"},
      {"/u/<int(signed=True):n>", "/u/{n}", R"({"type":"integer"})"},
      {"/u/<int(signed=True,min=-5):n>", "/u/{n}", R"({"type":"integer","minimum":-5})"},
      {"/u/<int(fixed_digits=4):n>", "/u/{n}",
       R"({"type":"integer","minimum":0,"maximum":9999,"description":"Written with exactly 4 digits (leading zeros)."})"},
      {"/u/<float:x>", "/u/{x}",
       R"({"type":"number","minimum":0.0,"description":"Written with a '.' and digits on both sides, e.g. 1.5."})"},
      {"/u/<float(signed=True,min=-1.5,max=2.5):x>", "/u/{x}",
       R"({"type":"number","minimum":-1.5,"maximum":2.5,"description":"Written with a '.' and digits on both sides, e.g. 1.5."})"},
      {"/files/<path:p>", "/files/{p}",
       R"({"type":"string","minLength":1,"description":"The rest of the path; may contain '/'."})"},
      {"/u/<uuid:id>", "/u/{id}", R"({"type":"string","format":"uuid"})"},
      {"/<any(about,help):page>", "/{page}", R"({"type":"string","enum":["about","help"]})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pattern);
    OpenApiPath p = openapi_path(c.pattern);
    EXPECT_EQ(p.path, c.path);
    ASSERT_EQ(p.params.size(), 1u);
    rapidjson::Document d;
    EXPECT_EQ(json(converter_schema(p.params[0].converter, d.GetAllocator())), c.schema);

    // And as the document shows it: a required path parameter with that schema.
    rapidjson::Document doc = build({route({"GET", c.pattern, "template", "x.html"})});
    const rapidjson::Value* param = at(doc, "/paths/" + pointer_token(c.path) + "/get/parameters/0");
    ASSERT_NE(param, nullptr) << json(doc);
    EXPECT_EQ(json_at(*param, "/in"), R"("path")");
    EXPECT_EQ(json_at(*param, "/required"), "true");
    EXPECT_EQ(json_at(*param, "/schema"), c.schema);
  }
}

TEST(OpenApiPath, StaticTextTrailingSlashAndSeveralParameters) {
  EXPECT_EQ(openapi_path("/").path, "/");
  EXPECT_EQ(openapi_path("/users/").path, "/users/");
  EXPECT_EQ(openapi_path("/a/b/c").path, "/a/b/c");
  OpenApiPath p = openapi_path("/shop/<int:year>-<any(a,b):kind>/<path:rest>/edit/");
  EXPECT_EQ(p.path, "/shop/{year}-{kind}/{rest}/edit/");
  ASSERT_EQ(p.params.size(), 3u);
  EXPECT_EQ(p.params[0].name, "year");
  EXPECT_EQ(p.params[0].converter.kind, ConverterKind::kInt);
  EXPECT_EQ(p.params[1].name, "kind");
  EXPECT_EQ(p.params[1].converter.kind, ConverterKind::kAny);
  EXPECT_EQ(p.params[2].name, "rest");
  EXPECT_EQ(p.params[2].converter.kind, ConverterKind::kPath);
}

TEST(OpenApiPath, StaticTextIsPercentEncodedWhereAPathNeedsIt) {
  // Braces would read as templating, '%' as an escape; UTF-8 is sent encoded.
  EXPECT_EQ(openapi_path("/a{b}/c d/50%/caf\xC3\xA9/<id>").path, "/a%7Bb%7D/c%20d/50%25/caf%C3%A9/{id}");
  EXPECT_EQ(openapi_path("/keep-._~!$&'()*+,;=:@").path, "/keep-._~!$&'()*+,;=:@");
}

TEST(OpenApiPath, BadPatternThrows) {
  EXPECT_THROW(openapi_path("users"), ConfigError);
  EXPECT_THROW(openapi_path("/u/<nope:x>"), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// Methods

TEST(OpenApiMethods, GetImpliesHeadStarIsTheFiveUsualOnes) {
  struct Case {
    const char* methods;
    std::vector<std::string> documented;
  };
  const Case cases[] = {
      {"GET", {"get"}},
      {"GET,HEAD", {"get"}},
      {"HEAD", {"head"}},
      {"GET,POST", {"get", "post"}},
      {"DELETE,PUT,PATCH", {"put", "patch", "delete"}},
      {"GET,OPTIONS", {"get", "options"}},
      {"*", {"get", "post", "put", "patch", "delete"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.methods);
    rapidjson::Document doc = build({route({c.methods, "/x", "handler", "echo"})});
    EXPECT_EQ(keys(at(doc, "/paths/~1x")), c.documented);
  }
}

TEST(OpenApiMethods, RoutesOnOnePathShareItsPathItem) {
  rapidjson::Document doc = build({route({"GET", "/items/<int:id>", "template", "item.html"}),
                                   route({"PUT", "/items/<int:id>", "handler", "echo"}),
                                   route({"DELETE", "/items/<int:id>", "handler", "echo"})});
  EXPECT_EQ(keys(at(doc, "/paths")), std::vector<std::string>{"/items/{id}"});
  EXPECT_EQ(keys(at(doc, "/paths/~1items~1{id}")), (std::vector<std::string>{"get", "put", "delete"}));
}

TEST(OpenApiMethods, RulesDifferingOnlyInParameterNamesShareOnePath) {
  std::vector<std::string> warnings;
  OpenApiRoute second = route({"GET", "/users/<name>", "template", "user.html"});
  second.route.where = "/etc/secret/httpd.conf:12";
  rapidjson::Document doc = build({route({"GET", "/users/<int:id>", "handler", "echo"}),
                                   route({"DELETE", "/users/<uuid:key>", "handler", "echo"}), second},
                                  &warnings);
  EXPECT_EQ(keys(at(doc, "/paths")), std::vector<std::string>{"/users/{id}"});
  // DELETE names its parameter as the path does, and says what the rule calls it.
  EXPECT_EQ(json_at(doc, "/paths/~1users~1{id}/delete/parameters/0/name"), R"("id")");
  EXPECT_EQ(json_at(doc, "/paths/~1users~1{id}/delete/parameters/0/schema/format"), R"("uuid")");
  EXPECT_EQ(json_at(doc, "/paths/~1users~1{id}/delete/parameters/0/description"),
            R"("Called 'key' in this route's rule.")");
  // The second GET cannot be shown: left out, with a warning naming the directive.
  EXPECT_EQ(json_at(doc, "/paths/~1users~1{id}/get/parameters/0/schema/type"), R"("integer")");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("GET /users/{id} is already documented"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("httpd.conf:12"), std::string::npos) << warnings[0];
  // The directive's file never reaches the document.
  EXPECT_EQ(build_openapi(OpenApiInput{"t", "1", {second}}).find("secret"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Actions

TEST(OpenApiActions, TemplateAnswersHtml) {
  rapidjson::Document doc = build({route({"GET", "/", "template", "index.html"})});
  const rapidjson::Value& op = *at(doc, "/paths/~1/get");
  EXPECT_EQ(json_at(op, "/operationId"), R"("get_root")");
  EXPECT_EQ(json_at(op, "/summary"), R"("Render index.html")");
  EXPECT_EQ(keys(at(op, "/responses")), (std::vector<std::string>{"200", "default"}));
  EXPECT_EQ(json_at(op, "/responses/200/content"), R"({"text/html":{"schema":{"type":"string"}}})");
  // Template routes answer errors in HTML, or JSON to a client that accepts only JSON.
  EXPECT_EQ(keys(at(op, "/responses/default/content")), (std::vector<std::string>{"text/html", "application/json"}));
  EXPECT_EQ(json_at(op, "/responses/default/content/application~1json/schema"),
            R"({"$ref":"#/components/schemas/Error"})");
  EXPECT_EQ(at(op, "/requestBody"), nullptr);
  EXPECT_EQ(at(op, "/parameters"), nullptr);
}

TEST(OpenApiActions, RedirectAnswersItsCodeWithLocation) {
  rapidjson::Document doc =
      build({route({"GET", "/old", "redirect", "https://example.org/private?token=abc", "301"}),
             route({"GET", "/tmp", "redirect", "/new"})});
  EXPECT_EQ(keys(at(doc, "/paths/~1old/get/responses")), (std::vector<std::string>{"301", "default"}));
  EXPECT_EQ(json_at(doc, "/paths/~1old/get/responses/301/headers/Location/schema"),
            R"({"type":"string","format":"uri-reference"})");
  EXPECT_EQ(json_at(doc, "/paths/~1old/get/responses/301/headers/Location/required"), "true");
  EXPECT_EQ(keys(at(doc, "/paths/~1tmp/get/responses")), (std::vector<std::string>{"302", "default"}));
  // The target is the operator's; the document does not repeat it.
  EXPECT_EQ(json(doc).find("token"), std::string::npos);
}

TEST(OpenApiActions, HandlerAnswersJsonWithItsDocumentedSchemas) {
  HandlerMeta meta;
  meta.summary = "Classify a digit";
  meta.request_schema = R"({"type":"object","required":["pixels"],"properties":{"pixels":{"type":"array"}}})";
  meta.response_schema = R"({"type":"object","properties":{"digit":{"type":"integer"}}})";
  rapidjson::Document doc = build({openapi_route(parse_route({"POST", "/predict", "handler", "digits"}), &meta),
                                   route({"GET", "/health", "handler", "health"})});
  const rapidjson::Value& op = *at(doc, "/paths/~1predict/post");
  EXPECT_EQ(json_at(op, "/summary"), R"("Classify a digit")");
  EXPECT_EQ(json_at(op, "/requestBody/content/application~1json/schema"),
            R"({"$ref":"#/components/schemas/digits_request"})");
  EXPECT_EQ(json_at(op, "/requestBody/required"), "true");
  EXPECT_EQ(json_at(op, "/responses/200/content/application~1json/schema"),
            R"({"$ref":"#/components/schemas/digits_response"})");
  EXPECT_EQ(json_at(doc, "/components/schemas/digits_request"), json(parse(meta.request_schema)));
  EXPECT_EQ(json_at(doc, "/components/schemas/digits_response"), json(parse(meta.response_schema)));
  // JSON routes answer errors in JSON only; no 422: the module does not check a handler's schema.
  EXPECT_EQ(keys(at(op, "/responses/default/content")), std::vector<std::string>{"application/json"});
  EXPECT_EQ(at(op, "/responses/422"), nullptr);

  const rapidjson::Value& health = *at(doc, "/paths/~1health/get");
  EXPECT_EQ(json_at(health, "/summary"), R"("Handler health")");
  EXPECT_EQ(json_at(health, "/responses/200/content/application~1json/schema"), "{}");
  EXPECT_EQ(at(health, "/requestBody"), nullptr);  // GET carries no body
}

TEST(OpenApiActions, HandlerSchemaThatIsNotJsonIsLeftOutWithAWarning) {
  HandlerMeta meta;
  meta.response_schema = "{not json";
  std::vector<std::string> warnings;
  rapidjson::Document doc =
      build({openapi_route(parse_route({"POST", "/p", "handler", "digits"}), &meta)}, &warnings);
  EXPECT_EQ(json_at(doc, "/paths/~1p/post/responses/200/content/application~1json/schema"), "{}");
  // A POST to a handler with no documented schema takes any JSON, optionally.
  EXPECT_EQ(json_at(doc, "/paths/~1p/post/requestBody"), R"({"required":false,"content":{"application/json":{"schema":{}}}})");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("response schema of 'digits'"), std::string::npos) << warnings[0];
}

TEST(OpenApiActions, UploadTakesMultipartFiles) {
  rapidjson::Document doc = build({route({"POST", "/upload", "upload", "image_upload"}),
                                   route({"POST", "/upload-page", "upload", "image_upload", "then=template:shown.html"})});
  const rapidjson::Value& op = *at(doc, "/paths/~1upload/post");
  EXPECT_EQ(json_at(op, "/requestBody"),
            R"({"required":true,"content":{"multipart/form-data":{"schema":{"type":"object","required":["image_upload"],)"
            R"("properties":{"image_upload":{"type":"array","items":{"type":"string","format":"binary"},"minItems":1,)"
            R"("description":"One or more files."}}}}}})");
  EXPECT_EQ(keys(at(op, "/responses")), (std::vector<std::string>{"200", "400", "413", "415", "default"}));
  EXPECT_EQ(json_at(op, "/responses/200/content/application~1json/schema"),
            R"({"$ref":"#/components/schemas/UploadedFiles"})");
  EXPECT_NE(at(doc, "/components/schemas/UploadedFiles/properties/files"), nullptr);

  const rapidjson::Value& page = *at(doc, "/paths/~1upload-page/post");
  EXPECT_EQ(keys(at(page, "/responses/200/content")), std::vector<std::string>{"text/html"});
  EXPECT_EQ(keys(at(page, "/responses/413/content")), (std::vector<std::string>{"text/html", "application/json"}));
}

TEST(OpenApiActions, JobStatusAndCancel) {
  rapidjson::Document doc = build({route({"POST", "/predict-async", "job", "digits"}),
                                   route({"GET", "/jobs/<uuid:id>", "job-status"}),
                                   route({"DELETE", "/jobs/<uuid:id>", "job-cancel"})});
  const rapidjson::Value& job = *at(doc, "/paths/~1predict-async/post");
  EXPECT_EQ(keys(at(job, "/responses")), (std::vector<std::string>{"202", "503", "default"}));
  EXPECT_EQ(json_at(job, "/responses/202/content/application~1json/schema"),
            R"({"$ref":"#/components/schemas/JobAccepted"})");
  EXPECT_EQ(json_at(job, "/responses/202/headers/Location/required"), "true");
  EXPECT_NE(at(job, "/responses/503/headers/Retry-After"), nullptr);
  EXPECT_EQ(json_at(job, "/summary"), R"("Start job digits")");

  const rapidjson::Value& status = *at(doc, "/paths/~1jobs~1{id}/get");
  EXPECT_EQ(keys(at(status, "/responses")), (std::vector<std::string>{"200", "404", "default"}));
  EXPECT_EQ(json_at(status, "/responses/200/content/application~1json/schema"), R"({"$ref":"#/components/schemas/Job"})");
  EXPECT_EQ(json_at(status, "/parameters/0/schema/format"), R"("uuid")");

  const rapidjson::Value& cancel = *at(doc, "/paths/~1jobs~1{id}/delete");
  EXPECT_EQ(keys(at(cancel, "/responses")), (std::vector<std::string>{"200", "202", "404", "409", "default"}));

  EXPECT_EQ(keys(at(doc, "/components/schemas")), (std::vector<std::string>{"Error", "JobAccepted", "Job"}));
  EXPECT_EQ(json_at(doc, "/components/schemas/JobAccepted/required"), R"(["id","status","status_url"])");
  EXPECT_EQ(json_at(doc, "/components/schemas/Job/properties/status/enum"),
            R"(["queued","running","done","failed","cancelled"])");
}

TEST(OpenApiActions, BoundedParametersDocument404) {
  rapidjson::Document doc =
      build({route({"GET", "/a/<int(max=9):n>", "template", "a.html"}), route({"GET", "/b/<int:n>", "template", "b.html"})});
  EXPECT_NE(at(doc, "/paths/~1a~1{n}/get/responses/404"), nullptr);
  EXPECT_EQ(at(doc, "/paths/~1b~1{n}/get/responses/404"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Body schemas, 422, 429

TEST(OpenApiSchemas, BodySchemaIsEmbeddedWith422) {
  rapidjson::Document schema = parse(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/user.json",
    "type": "object",
    "required": ["name"],
    "properties": {
      "name": {"type": "string"},
      "enum": {"$ref": "#/$defs/tag"},
      "address": {"$ref": "#/$defs/address"},
      "self": {"$ref": "#"}
    },
    "$defs": {"tag": {"enum": [{"$ref": "#/not/a/ref"}]}, "address": {"type": "object"}},
    "default": {"$ref": "#/data"}
  })");
  OpenApiRoute r = route({"POST", "/users", "handler", "echo"});
  r.body_schema = &schema;
  r.body_schema_name = "user";
  rapidjson::Document doc = build({r});
  const rapidjson::Value& op = *at(doc, "/paths/~1users/post");
  EXPECT_EQ(json_at(op, "/requestBody/content/application~1json/schema"), R"({"$ref":"#/components/schemas/user"})");
  EXPECT_EQ(json_at(op, "/requestBody/required"), "true");
  EXPECT_EQ(keys(at(op, "/responses")), (std::vector<std::string>{"200", "400", "415", "422", "default"}));
  EXPECT_EQ(json_at(op, "/responses/422/content/application~1json/schema"),
            R"({"$ref":"#/components/schemas/ValidationError"})");
  EXPECT_EQ(json_at(doc, "/components/schemas/ValidationError/properties/error/required"),
            R"(["code","message","errors"])");
  EXPECT_EQ(json_at(doc, "/components/schemas/ValidationError/properties/error/properties/errors/items/required"),
            R"(["loc","msg"])");

  // Embedded under its name: local references now say where it lives; $id (which would rebase
  // them) is dropped; data keywords are left alone.
  const rapidjson::Value& user = *at(doc, "/components/schemas/user");
  EXPECT_EQ(at(user, "/$id"), nullptr);
  EXPECT_EQ(json_at(user, "/$schema"), R"("https://json-schema.org/draft/2020-12/schema")");
  EXPECT_EQ(json_at(user, "/properties/enum/$ref"), R"("#/components/schemas/user/$defs/tag")");
  EXPECT_EQ(json_at(user, "/properties/address/$ref"), R"("#/components/schemas/user/$defs/address")");
  EXPECT_EQ(json_at(user, "/properties/self/$ref"), R"("#/components/schemas/user")");
  EXPECT_EQ(json_at(user, "/$defs/tag/enum"), R"([{"$ref":"#/not/a/ref"}])");
  EXPECT_EQ(json_at(user, "/default"), R"({"$ref":"#/data"})");
}

TEST(OpenApiSchemas, NamesAreStableSharedWhenEqualAndSuffixedWhenNot) {
  rapidjson::Document a = parse(R"({"type":"object"})");
  rapidjson::Document a_again = parse(R"({"type":"object"})");
  rapidjson::Document b = parse(R"({"type":"array"})");
  OpenApiRoute r1 = route({"POST", "/a", "handler", "echo"});
  r1.body_schema = &a;
  r1.body_schema_name = "item";
  OpenApiRoute r2 = route({"PUT", "/a", "handler", "echo"});
  r2.body_schema = &a_again;
  r2.body_schema_name = "item";
  OpenApiRoute r3 = route({"POST", "/b", "handler", "echo"});
  r3.body_schema = &b;
  r3.body_schema_name = "item";
  OpenApiRoute r4 = route({"POST", "/c", "handler", "echo"});
  r4.body_schema = &b;
  r4.body_schema_name = "Error";  // a built-in's name
  OpenApiRoute r5 = route({"POST", "/d", "handler", "echo"});
  r5.body_schema = &a;  // no hint: named after the operation
  OpenApiRoute r6 = route({"POST", "/e", "handler", "echo"});
  r6.body_schema = &a;
  r6.body_schema_name = "my schema/v1";
  rapidjson::Document doc = build({r1, r2, r3, r4, r5, r6});
  EXPECT_EQ(json_at(doc, "/paths/~1a/post/requestBody/content/application~1json/schema/$ref"),
            R"("#/components/schemas/item")");
  EXPECT_EQ(json_at(doc, "/paths/~1a/put/requestBody/content/application~1json/schema/$ref"),
            R"("#/components/schemas/item")");
  EXPECT_EQ(json_at(doc, "/paths/~1b/post/requestBody/content/application~1json/schema/$ref"),
            R"("#/components/schemas/item_2")");
  EXPECT_EQ(json_at(doc, "/paths/~1c/post/requestBody/content/application~1json/schema/$ref"),
            R"("#/components/schemas/Error_2")");
  EXPECT_EQ(json_at(doc, "/paths/~1d/post/requestBody/content/application~1json/schema/$ref"),
            R"("#/components/schemas/post_d_body")");
  EXPECT_EQ(json_at(doc, "/paths/~1e/post/requestBody/content/application~1json/schema/$ref"),
            R"("#/components/schemas/my_schema_v1")");
  EXPECT_EQ(keys(at(doc, "/components/schemas")),
            (std::vector<std::string>{"Error", "ValidationError", "item", "item_2", "Error_2", "post_d_body",
                                      "my_schema_v1"}));
}

TEST(OpenApiSchemas, BodySchemaOnAnUploadIsLeftOut) {
  rapidjson::Document a = parse(R"({"type":"object"})");
  OpenApiRoute r = route({"POST", "/up", "upload", "f"});
  r.body_schema = &a;
  std::vector<std::string> warnings;
  rapidjson::Document doc = build({r}, &warnings);
  EXPECT_EQ(keys(at(doc, "/paths/~1up/post/requestBody/content")), std::vector<std::string>{"multipart/form-data"});
  EXPECT_EQ(at(doc, "/paths/~1up/post/responses/422"), nullptr);
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(OpenApiSchemas, RateLimitedRoutesDocument429) {
  OpenApiRoute limited = route({"GET", "/api", "handler", "echo"});
  limited.rate_limited = true;
  rapidjson::Document doc = build({limited, route({"GET", "/free", "handler", "echo"})});
  EXPECT_EQ(json_at(doc, "/paths/~1api/get/responses/429"), R"({"$ref":"#/components/responses/TooManyRequests"})");
  EXPECT_EQ(at(doc, "/paths/~1free/get/responses/429"), nullptr);
  EXPECT_EQ(keys(at(doc, "/components/responses/TooManyRequests/headers")),
            (std::vector<std::string>{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}));
  // Unused components are not emitted.
  rapidjson::Document free = build({route({"GET", "/free", "handler", "echo"})});
  EXPECT_EQ(at(free, "/components/responses"), nullptr);
  EXPECT_EQ(keys(at(free, "/components/schemas")), std::vector<std::string>{"Error"});
}

TEST(OpenApiSchemas, CommonErrorSchema) {
  rapidjson::Document doc = build({route({"GET", "/", "template", "index.html"})});
  EXPECT_EQ(json_at(doc, "/components/schemas/Error/required"), R"(["error"])");
  EXPECT_EQ(json_at(doc, "/components/schemas/Error/properties/error/required"), R"(["code","message"])");
  EXPECT_EQ(json_at(doc, "/components/schemas/Error/properties/error/properties/code/type"), R"("integer")");
  EXPECT_EQ(json_at(doc, "/openapi"), R"("3.1.0")");
  EXPECT_EQ(json_at(doc, "/info"), R"({"title":"Test API","version":"2.0"})");
}

// ---------------------------------------------------------------------------------------------
// Identity and determinism

// A route table with every action and converter, the demo's and more.
std::vector<OpenApiRoute> realistic_routes(const rapidjson::Value* user_schema) {
  HandlerMeta digits;
  digits.summary = "Classify a hand-written digit";
  digits.request_schema = R"({"type":"object","required":["pixels"],"properties":{"pixels":{"type":"array",)"
                          R"("items":{"type":"number","minimum":0,"maximum":1},"minItems":784,"maxItems":784}}})";
  digits.response_schema = R"({"type":"object","properties":{"digit":{"type":"integer","minimum":0,"maximum":9},)"
                           R"("confidence":{"type":"number"}}})";
  std::vector<OpenApiRoute> routes = {
      route({"GET", "/", "template", "index.html"}),
      route({"GET", "/hello/<name>", "template", "hello.html"}),
      route({"GET", "/users/<int(min=1,max=999999):id>", "template", "user.html"}),
      route({"GET", "/files/<path:p>", "template", "file.html"}),
      route({"GET", "/<any(about,help):page>", "template", "page.html"}),
      route({"GET", "/price/<float(signed=True):x>", "handler", "echo"}),
      route({"GET", "/code/<string(length=3):c>/<string(minlength=2,maxlength=8):s>", "handler", "echo"}),
      route({"GET", "/old", "redirect", "/", "301"}),
      route({"GET", "/docs/", "redirect", "/docs/index.html"}),
      route({"*", "/echo", "handler", "echo"}),
      route({"GET,OPTIONS", "/health", "handler", "health"}),
      openapi_route(parse_route({"POST", "/predict", "handler", "digits"}), &digits),
      route({"POST", "/upload", "upload", "image_upload"}),
      route({"POST", "/gallery", "upload", "image_upload", "then=template:gallery.html"}),
      openapi_route(parse_route({"POST", "/predict-async", "job", "digits"}), &digits),
      route({"GET", "/jobs/<uuid:id>", "job-status"}),
      route({"DELETE", "/jobs/<uuid:id>", "job-cancel"}),
  };
  OpenApiRoute users = route({"POST", "/users", "handler", "echo"});
  users.summary = "Create a user";
  users.body_schema = user_schema;
  users.body_schema_name = "user";
  users.rate_limited = true;
  routes.push_back(users);
  OpenApiRoute put_user = route({"PUT", "/users/<int(min=1,max=999999):id>", "handler", "echo"});
  put_user.body_schema = user_schema;
  put_user.body_schema_name = "user";
  routes.push_back(put_user);
  routes[1].rate_limited = true;
  return routes;
}

constexpr const char* kUserSchema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["name", "email"],
  "properties": {
    "name": {"type": "string", "minLength": 1},
    "email": {"type": "string", "format": "email"},
    "address": {"$ref": "#/$defs/address"}
  },
  "$defs": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}},
  "additionalProperties": false
})";

TEST(OpenApiDocument, DeterministicOutput) {
  rapidjson::Document schema = parse(kUserSchema);
  OpenApiInput in{"Demo", "1.0.0", realistic_routes(&schema)};
  std::string first = build_openapi(in);
  EXPECT_EQ(first, build_openapi(in));
  // A fresh input with equal values (another schema document too) gives the same bytes.
  rapidjson::Document schema2 = parse(kUserSchema);
  OpenApiInput in2{"Demo", "1.0.0", realistic_routes(&schema2)};
  EXPECT_EQ(first, build_openapi(in2));
  EXPECT_EQ(first.back(), '\n');
}

TEST(OpenApiDocument, OperationIdsAreUniqueAndStable) {
  rapidjson::Document schema = parse(kUserSchema);
  std::vector<OpenApiRoute> routes = realistic_routes(&schema);
  // Patterns whose natural ids collide.
  routes.push_back(route({"GET", "/a-b", "handler", "echo"}));
  routes.push_back(route({"GET", "/a_b", "handler", "echo"}));
  routes.push_back(route({"GET", "/a.b", "handler", "echo"}));
  rapidjson::Document doc = build(routes);
  std::set<std::string> ids;
  std::size_t operations = 0;
  for (const auto& path : doc["paths"].GetObject()) {
    for (const auto& op : path.value.GetObject()) {
      ++operations;
      ASSERT_TRUE(op.value.HasMember("operationId"));
      std::string id = op.value["operationId"].GetString();
      EXPECT_TRUE(ids.insert(id).second) << "duplicate " << id;
      for (char c : id) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_') << id;
    }
  }
  EXPECT_EQ(ids.size(), operations);
  EXPECT_GT(operations, 20u);
  EXPECT_EQ(json_at(doc, "/paths/~1a-b/get/operationId"), R"("get_a_b")");
  EXPECT_EQ(json_at(doc, "/paths/~1a_b/get/operationId"), R"("get_a_b_2")");
  EXPECT_EQ(json_at(doc, "/paths/~1a.b/get/operationId"), R"("get_a_b_3")");
  EXPECT_EQ(json_at(doc, "/paths/~1users~1{id}/get/operationId"), R"("get_users_id")");
  EXPECT_EQ(json_at(doc, "/paths/~1echo/patch/operationId"), R"("patch_echo")");
}

TEST(OpenApiDocument, SummariesFromTheRouteWinAndTextIsSanitised) {
  OpenApiRoute r = route({"GET", "/", "template", "index.html"});
  r.summary = "Home \xFF page";  // invalid UTF-8
  OpenApiInput in{"T\xC3(", "1", {r}};
  std::string out = build_openapi(in);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << out;
  EXPECT_EQ(json_at(doc, "/paths/~1/get/summary"), "\"Home \xEF\xBF\xBD page\"");
}

// ---------------------------------------------------------------------------------------------
// Swagger UI page

TEST(SwaggerUi, PageLoadsTheAssetsAndTheDocument) {
  std::string page = swagger_ui_page("/openapi.json", "/swagger-ui", "My API");
  EXPECT_NE(page.find("<title>My API</title>"), std::string::npos);
  EXPECT_NE(page.find(R"(<link rel="stylesheet" href="/swagger-ui/swagger-ui.css">)"), std::string::npos);
  // Its own icon, so browsers do not ask the site for /favicon.ico.
  EXPECT_NE(page.find(R"(<link rel="icon" type="image/png" href="/swagger-ui/favicon-32x32.png" sizes="32x32">)"),
            std::string::npos);
  EXPECT_NE(page.find(R"(<script src="/swagger-ui/swagger-ui-bundle.js" charset="UTF-8"></script>)"), std::string::npos);
  EXPECT_NE(page.find(R"(<script src="/swagger-ui/swagger-ui-standalone-preset.js" charset="UTF-8"></script>)"),
            std::string::npos);
  EXPECT_NE(page.find(R"(url: "/openapi.json",)"), std::string::npos);
  EXPECT_NE(page.find("dom_id: '#swagger-ui'"), std::string::npos);
  EXPECT_NE(page.find("SwaggerUIBundle({"), std::string::npos);
  EXPECT_EQ(page, swagger_ui_page("/openapi.json", "/swagger-ui/", "My API"));  // final '/' or not
  EXPECT_EQ(page.find("http"), std::string::npos);  // no CDN
  EXPECT_NE(page.find("validatorUrl: null,"), std::string::npos);  // no badge from validator.swagger.io
}

TEST(SwaggerUi, NothingInjects) {
  std::string page = swagger_ui_page("/o.json\"});alert(1);//</script><script>alert(2)</script>\xE2\x80\xA8'",
                                     "/a\"><script>alert(3)</script>", "</title><script>alert(4)</script>&");
  EXPECT_EQ(page.find("\"});alert(1)"), std::string::npos) << page;  // can't close the JS string
  EXPECT_EQ(page.find("<script>alert"), std::string::npos) << page;
  EXPECT_EQ(page.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_NE(page.find(R"(url: "/o.json\u0022});alert(1);//\u003c/script\u003e\u003cscript\u003ealert(2)\u003c/script\u003e\u2028\u0027",)"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<title>&lt;/title&gt;&lt;script&gt;alert(4)&lt;/script&gt;&amp;</title>"), std::string::npos);
  EXPECT_NE(page.find(R"(href="/a&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt;/swagger-ui.css")"), std::string::npos);
  // Exactly the three script elements of the page.
  std::size_t scripts = 0;
  for (std::size_t at = page.find("<script"); at != std::string::npos; at = page.find("<script", at + 1)) ++scripts;
  EXPECT_EQ(scripts, 3u);
}

// ---------------------------------------------------------------------------------------------
// The real validator (tests/openapi/validate.sh, installed by scripts/setup.sh)

TEST(OpenApiValidator, RealisticDocumentIsValidAndBrokenOnesAreNot) {
  rapidjson::Document schema = parse(kUserSchema);
  OpenApiInput in{"mod_flaskpp demo", "1.0.0", realistic_routes(&schema)};
  std::vector<std::string> warnings;
  std::string document = build_openapi(in, &warnings);
  EXPECT_TRUE(warnings.empty());
  if (const char* dump = std::getenv("FLASKPP_OPENAPI_DUMP")) {
    std::ofstream(dump, std::ios::binary) << document;
  }
  const char* validate = std::getenv("FLASKPP_OPENAPI_VALIDATE");
  if (!validate || !*validate) GTEST_SKIP() << "FLASKPP_OPENAPI_VALIDATE (tests/openapi/validate.sh) not set";
  test::TempDir dir;
  auto run = [&](const std::string& name, const std::string& text) {
    std::string file = dir.write(name, text);
    std::string command = std::string("'") + validate + "' '" + file + "' >'" + file + ".log' 2>&1";
    return std::system(command.c_str());
  };
  EXPECT_EQ(run("good.json", document), 0);

  // Broken: an operationId twice, a path parameter not declared, a wrong type keyword.
  std::string duplicate = document;
  duplicate.replace(duplicate.find("\"get_hello_name\""), 16, "\"get_root\"");
  EXPECT_NE(run("duplicate.json", duplicate), 0);
  std::string undeclared = document;
  undeclared.replace(undeclared.find("\"/hello/{name}\""), 15, "\"/hello/{nome}\"");
  EXPECT_NE(run("undeclared.json", undeclared), 0);
  std::string bad_type = document;
  bad_type.replace(bad_type.find(R"("type":"integer")"), 16, R"("type":"integr")");
  EXPECT_NE(run("bad_type.json", bad_type), 0);
  EXPECT_NE(run("not_openapi.json", R"({"openapi":"3.1.0","paths":{}})"), 0);
}

}  // namespace
}  // namespace flaskpp::core
