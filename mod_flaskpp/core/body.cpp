#include "core/body.hpp"

#include <cstdlib>

#include "core/multipart.hpp"

namespace flaskpp::core {

namespace {

class FormSink final : public MultipartSink {
 public:
  FormSink(Request& req, UploadSession* uploads, const std::string& field, bool keep)
      : req_(req), uploads_(uploads), field_(field), keep_(keep) {}

  void on_part_begin(const PartInfo& p) override {
    name_ = p.name;
    value_.clear();
    if (!p.filename) {
      kind_ = Kind::kField;
      return;
    }
    file_ = FileInfo{};
    file_.field = p.name;
    file_.filename = *p.filename;
    file_.content_type = p.content_type;
    // An empty file input is sent as a part with an empty filename: not a file.
    if (uploads_ && p.name == field_ && !p.filename->empty()) {
      uploads_->begin_file(p.name, *p.filename, p.content_type);
      kind_ = Kind::kSaved;
    } else {
      kind_ = Kind::kCounted;
    }
  }

  void on_part_data(std::string_view d) override {
    switch (kind_) {
      case Kind::kField: value_.append(d.data(), d.size()); break;
      case Kind::kCounted:
        file_.size += d.size();
        if (keep_) file_.data.append(d.data(), d.size());
        break;
      case Kind::kSaved: uploads_->write(d); break;
    }
  }

  void on_part_end() override {
    switch (kind_) {
      case Kind::kField: req_.form.emplace_back(name_, std::move(value_)); break;
      case Kind::kCounted:
        if (!file_.filename.empty() || file_.size > 0) req_.files.push_back(std::move(file_));
        break;
      case Kind::kSaved: uploads_->end_file(); break;
    }
    value_.clear();
  }

 private:
  enum class Kind { kField, kCounted, kSaved };
  Request& req_;
  UploadSession* uploads_;
  const std::string& field_;
  bool keep_;
  Kind kind_ = Kind::kField;
  std::string name_;
  std::string value_;
  FileInfo file_;
};

}  // namespace

bool has_body(const Request& req) {
  if (const std::string* te = req.header("transfer-encoding")) return !te->empty();
  if (const std::string* cl = req.header("content-length")) return std::strtoull(cl->c_str(), nullptr, 10) > 0;
  return false;
}

void read_body(Request& req, BodySource& source, const BodyLimits& limits, UploadSession* uploads,
               const std::string& upload_field, bool keep_file_data) {
  if (const std::string* cl = req.header("content-length")) {
    char* end = nullptr;
    unsigned long long announced = std::strtoull(cl->c_str(), &end, 10);
    if (end && *end == '\0' && announced > limits.max_body) {
      throw PayloadTooLarge("request body of " + std::to_string(announced) + " bytes is larger than the limit of " +
                            std::to_string(limits.max_body) + " bytes");
    }
  }
  auto too_large = [&] {
    return PayloadTooLarge("request body larger than the limit of " + std::to_string(limits.max_body) + " bytes");
  };
  std::string type = req.content_type();
  std::size_t total = 0;
  std::string_view chunk;
  if (type == "multipart/form-data") {
    const std::string* header = req.header("content-type");
    FormSink sink(req, uploads, upload_field, keep_file_data);
    MultipartLimits ml;
    ml.max_parts = limits.max_parts;
    MultipartParser parser(multipart_boundary(header ? *header : ""), sink, ml);
    while (source.next(chunk)) {
      total += chunk.size();
      if (total > limits.max_body) throw too_large();
      parser.feed(chunk);
    }
    parser.finish();
    return;
  }
  while (source.next(chunk)) {
    total += chunk.size();
    if (total > limits.max_body) throw too_large();
    req.body.append(chunk.data(), chunk.size());
  }
  if (type == "application/x-www-form-urlencoded") req.form = parse_query(req.body);
}

}  // namespace flaskpp::core
