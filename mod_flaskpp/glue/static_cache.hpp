// FlaskppStaticMaxAge URL-PREFIX ...: Cache-Control for the app's static files that Apache itself
// serves (Flask's SEND_FILE_MAX_AGE_DEFAULT on its static folder), opt-in per URL prefix.
#pragma once

#include "glue/apache.hpp"

extern "C" {
const char* fpp_set_static_max_age(cmd_parms* cmd, void*, const char* prefix) noexcept;
// fixups: an unrouted GET/HEAD under a prefix gets "Cache-Control: public, max-age=N" (N from
// SEND_FILE_MAX_AGE_DEFAULT; "no-cache" when it is 0; nothing when it is unset).
int fpp_static_fixups(request_rec* r) noexcept;
}
