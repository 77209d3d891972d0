// main() of the libcurl integration test binaries: libcurl's global state around the tests.
#include <curl/curl.h>
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  curl_global_cleanup();
  return rc;
}
