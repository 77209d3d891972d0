// The demo's digit classifier as a mod_flaskpp plugin.
//
//   FlaskppPlugin digits /path/to/digits.so model=/path/to/models/digits/weights.json
//   FlaskppRoute POST /api/predict-now handler predict     (answers at once)
//   FlaskppRoute POST /api/predict job predict             (202 + job id; GET /jobs/<id> polls)
//
// Input: an image upload in form field `image` (PNG or JPEG: a canvas export or a photo), or
// JSON {"pixels": [64 numbers 0..16]} (8x8, row-major, 16 = full ink). Answer:
// {"digit": d, "probabilities": [10 numbers]}. Bad input is a 422 that says what is wrong.
#include <optional>
#include <string>
#include <vector>

#include <flaskpp/flaskpp.hpp>

#include "digits_model.hpp"
#include "preprocess.hpp"

namespace {

// Loaded once by on_start in Apache's parent and shared copy-on-write by every child; read-only
// afterwards, so the handler and the job may use it from any thread.
std::optional<digits::Model> g_model;

digits::Features features_of(const flaskpp::Request& in) {
  if (const flaskpp::UploadedFile* image = in.file("image")) return digits::image_to_features(image->bytes());
  if (in.is_json()) {
    if (!in.json.IsObject() || !in.json.HasMember("pixels") || !in.json["pixels"].IsArray()) {
      throw digits::BadInput("JSON input must be an object {\"pixels\": [64 numbers 0..16]}");
    }
    std::vector<double> pixels;
    for (const auto& v : in.json["pixels"].GetArray()) {
      if (!v.IsNumber()) throw digits::BadInput("pixels must all be numbers");
      pixels.push_back(v.GetDouble());
    }
    return digits::validate_pixels(pixels);
  }
  if (in.content_type == "multipart/form-data") throw digits::BadInput("no image in form field 'image'");
  flaskpp::abort(415, "send an image upload in form field 'image' (multipart/form-data) or JSON {\"pixels\": [...]}");
}

rapidjson::Document predict(const flaskpp::Request& in) {
  if (!g_model) throw std::runtime_error("the model is not loaded (FlaskppPlugin digits ... model=PATH)");
  digits::Features x;
  try {
    x = features_of(in);
  } catch (const digits::BadInput& e) {
    flaskpp::abort(422, e.what());
  }
  digits::Probabilities p;
  int digit = g_model->predict(x, p);
  rapidjson::Document out;
  out.SetObject();
  auto& a = out.GetAllocator();
  out.AddMember("digit", digit, a);
  rapidjson::Value probs(rapidjson::kArrayType);
  for (double v : p) probs.PushBack(v, a);
  out.AddMember("probabilities", probs, a);
  return out;
}

// The JSON body's schema: the module checks JSON bodies against it before the handler runs (422
// with every error). An image upload (multipart/form-data, field 'image') is not JSON and goes to
// the handler as it is.
const char* kRequestSchema = R"({"type": "object", "required": ["pixels"], "properties": {"pixels": {"type": "array",
  "minItems": 64, "maxItems": 64, "items": {"type": "number", "minimum": 0, "maximum": 16}}}})";
const char* kResponseSchema = R"({"type": "object", "required": ["digit", "probabilities"], "properties": {
  "digit": {"type": "integer", "minimum": 0, "maximum": 9},
  "probabilities": {"type": "array", "minItems": 10, "maxItems": 10, "items": {"type": "number"}}}})";

}  // namespace

FLASKPP_PLUGIN(app) {
  flaskpp::HandlerInfo info{"Classify a handwritten digit (8x8 softmax regression trained on sklearn's digits)",
                            kRequestSchema, kResponseSchema};
  app.handler("predict", [](const flaskpp::Request& req) { return flaskpp::jsonify(predict(req)); }, info);
  app.job("predict", [](flaskpp::JobContext& job) {
    job.progress(0.1, "reading the input");
    rapidjson::Document out = predict(job.input());
    job.progress(1.0, "classified");
    return out;
  }, info);
  app.on_start([](const flaskpp::PluginContext& ctx) {
    auto path = ctx.option("model");
    if (!path) throw std::runtime_error("option model=PATH (models/digits/weights.json) is required");
    g_model = digits::Model::from_file(*path);
    ctx.log().info("model " + *path + " loaded (held-out accuracy " + std::to_string(g_model->heldout_accuracy()) +
                   ")");
  });
}
