// The incremental multipart parser: same result for every chunking, and typed errors for
// hostile bodies.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/multipart.hpp"

using flaskpp::core::MultipartError;
using flaskpp::core::MultipartLimits;
using flaskpp::core::MultipartParser;
using flaskpp::core::MultipartSink;
using flaskpp::core::PartInfo;

namespace {

struct Part {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string data;
  bool ended = false;
  bool operator==(const Part& o) const {
    return name == o.name && filename == o.filename && content_type == o.content_type && data == o.data &&
           ended == o.ended;
  }
};

struct Collector : MultipartSink {
  std::vector<Part> parts;
  std::size_t largest_chunk = 0;
  void on_part_begin(const PartInfo& p) override { parts.push_back({p.name, p.filename, p.content_type, "", false}); }
  void on_part_data(std::string_view d) override {
    parts.back().data.append(d.data(), d.size());
    largest_chunk = std::max(largest_chunk, d.size());
  }
  void on_part_end() override { parts.back().ended = true; }
};

std::vector<Part> parse_in_chunks(const std::string& boundary, const std::string& body, std::size_t chunk,
                                  MultipartLimits limits = {}) {
  Collector c;
  MultipartParser p(boundary, c, limits);
  for (std::size_t i = 0; i < body.size(); i += chunk) p.feed(std::string_view(body).substr(i, chunk));
  p.finish();
  return c.parts;
}

MultipartError::Kind error_kind(const std::string& boundary, const std::string& body, std::size_t chunk = 4096,
                                MultipartLimits limits = {}) {
  try {
    parse_in_chunks(boundary, body, chunk, limits);
  } catch (const MultipartError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error for body of " << body.size() << " bytes";
  return MultipartError::Kind::kMalformed;
}

const std::string kB = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

std::string sample_body() {
  std::string png = "\x89PNG\r\n\x1a\n";
  png += std::string("\0\0\0\rIHDR", 8);
  for (int i = 0; i < 3000; ++i) png += static_cast<char>(i * 7 % 256);
  png += "\r\n--" + kB.substr(0, 10) + "almost a delimiter\r\n-";
  return "preamble to ignore\r\n"
         "--" + kB + "\r\n"
         "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
         "Hello, world\r\n"
         "--" + kB + "\r\n"
         "Content-Disposition: form-data; name=\"image_upload\"; filename=\"cat \\\"1\\\".png\"\r\n"
         "Content-Type: image/png\r\n\r\n" + png + "\r\n"
         "--" + kB + "\r\n"
         "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
         "\r\n"
         "--" + kB + "--\r\n"
         "epilogue to ignore";
}

TEST(Multipart, EveryChunkSizeGivesTheSameParts) {
  std::string body = sample_body();
  auto whole = parse_in_chunks(kB, body, body.size());
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].name, "title");
  EXPECT_EQ(whole[0].data, "Hello, world");
  EXPECT_FALSE(whole[0].filename.has_value());
  EXPECT_EQ(whole[0].content_type, "text/plain");
  EXPECT_EQ(whole[1].name, "image_upload");
  EXPECT_EQ(whole[1].filename, std::optional<std::string>("cat \"1\".png"));
  EXPECT_EQ(whole[1].content_type, "image/png");
  EXPECT_EQ(whole[1].data.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_NE(whole[1].data.find("almost a delimiter\r\n-"), std::string::npos);
  EXPECT_EQ(whole[2].data, "");
  for (const auto& p : whole) EXPECT_TRUE(p.ended);
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 4096u}) {
    EXPECT_EQ(parse_in_chunks(kB, body, chunk), whole) << "chunk size " << chunk;
  }
}

TEST(Multipart, BodyMayStartWithTheDelimiterAndUseBareLf) {
  std::string body = "--b\nContent-Disposition: form-data; name=\"a\"\n\nx\n--b\n"
                     "Content-Disposition: form-data; name=\"b\"\n\ny\r\n--b--";
  for (std::size_t chunk : {1u, 2u, 5u, 100u}) {
    auto parts = parse_in_chunks("b", body, chunk);
    ASSERT_EQ(parts.size(), 2u) << chunk;
    EXPECT_EQ(parts[0].data, "x");
    EXPECT_EQ(parts[1].data, "y");
  }
}

TEST(Multipart, Rfc5987FilenamesWin) {
  std::string body = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"fallback.txt\"; "
                     "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\nx\r\n"
                     "--b\r\nContent-Disposition: form-data; name=\"g\"; filename*=iso-8859-1'en'caf%E9.txt\r\n\r\ny\r\n"
                     "--b--\r\n";
  auto parts = parse_in_chunks("b", body, 3);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(*parts[0].filename, "\xE2\x82\xAC rates.txt");
  EXPECT_EQ(*parts[1].filename, "caf\xC3\xA9.txt");
}

TEST(Multipart, PartsWithoutANameAreDropped) {
  std::string body = "--b\r\nContent-Disposition: form-data; filename=\"x.txt\"\r\n\r\nsecret\r\n"
                     "--b\r\nContent-Disposition: form-data; name=\"kept\"\r\n\r\nv\r\n--b--";
  auto parts = parse_in_chunks("b", body, 2);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "kept");
}

TEST(Multipart, NulInAFilenameIsPassedOnWithoutHarm) {
  std::string body = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a";
  body += '\0';
  body += ".php.png\"\r\n\r\nx\r\n--b--";
  auto parts = parse_in_chunks("b", body, 1);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].filename->size(), 10u);
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(flaskpp::core::multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(flaskpp::core::multipart_boundary("multipart/form-data; charset=utf-8; boundary=\"a b;c\""), "a b;c");
  try {
    flaskpp::core::multipart_boundary("multipart/form-data");
    ADD_FAILURE() << "no error";
  } catch (const MultipartError& e) {
    EXPECT_EQ(e.kind(), MultipartError::Kind::kMissingBoundary);
    EXPECT_EQ(e.status(), 400);
  }
  EXPECT_THROW(flaskpp::core::multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')),
               MultipartError);
}

TEST(Multipart, HostileBodiesGiveTypedErrors) {
  using K = MultipartError::Kind;
  std::string part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  // A boundary the body never uses.
  EXPECT_EQ(error_kind("other", "--b\r\n" + part + "--b--"), K::kTruncated);
  // An unterminated part (client cut the upload).
  EXPECT_EQ(error_kind("b", "--b\r\n" + part), K::kTruncated);
  EXPECT_EQ(error_kind("b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz", 1), K::kTruncated);
  // Garbage after a delimiter.
  EXPECT_EQ(error_kind("b", "--bXYZ\r\n" + part + "--b--"), K::kMalformed);
  // A header line without a colon, a part without Content-Disposition.
  EXPECT_EQ(error_kind("b", "--b\r\nnonsense\r\n\r\nx\r\n--b--"), K::kMalformed);
  EXPECT_EQ(error_kind("b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"), K::kMalformed);
  // A 64 KiB header line.
  EXPECT_EQ(error_kind("b", "--b\r\nContent-Disposition: form-data; name=\"" + std::string(65536, 'a') +
                                "\"\r\n\r\nx\r\n--b--",
                       1000),
            K::kHeaderTooLarge);
  // 10,000 parts against the default limit of 1000.
  std::string many;
  for (int i = 0; i < 10000; ++i) many += "--b\r\n" + part;
  many += "--b--";
  try {
    parse_in_chunks("b", many, 4096);
    ADD_FAILURE() << "no error for 10,000 parts";
  } catch (const MultipartError& e) {
    EXPECT_EQ(e.kind(), K::kTooManyParts);
    EXPECT_EQ(e.status(), 413);
  }
  MultipartLimits roomy;
  roomy.max_parts = 20000;
  EXPECT_EQ(parse_in_chunks("b", many, 4096, roomy).size(), 10000u);
}

TEST(Multipart, MemoryStaysBoundedByTheChunk) {
  // 10 MiB of file data in 64 KiB chunks: the parser never hands more than a chunk at a time.
  std::string head = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\r\n\r\n";
  Collector c;
  MultipartParser p("b", c);
  p.feed(head);
  std::string chunk(65536, 'z');
  for (int i = 0; i < 160; ++i) p.feed(chunk);
  p.feed("\r\n--b--\r\n");
  p.finish();
  ASSERT_EQ(c.parts.size(), 1u);
  EXPECT_EQ(c.parts[0].data.size(), 160u * 65536u);
  EXPECT_LE(c.largest_chunk, 65536u + 16u);
}

}  // namespace
