// A plugin "built against another SDK": its ABI stamp says SDK 99.0. The module must refuse it.
#include <flaskpp/flaskpp.hpp>

namespace {
flaskpp::detail::AbiStamp stamp() {
  flaskpp::detail::AbiStamp s = flaskpp::detail::kAbiStamp;
  s.sdk_major = 99;
  return s;
}
const flaskpp::detail::AbiStamp kStamp = stamp();
}  // namespace

extern "C" FLASKPP_EXPORT const flaskpp::detail::AbiStamp* flaskpp_plugin_abi_v1() noexcept { return &kStamp; }
extern "C" FLASKPP_EXPORT void flaskpp_plugin_register_v1(flaskpp::detail::Registrar* r, const char*) noexcept {
  r->fail("must never be called");
}
