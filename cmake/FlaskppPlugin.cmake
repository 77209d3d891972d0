# flaskpp_add_plugin(NAME SOURCES src... [LIBRARIES lib...] [INCLUDE_DIRECTORIES dir...])
#
# Builds NAME.so, a mod_flaskpp plugin, for `FlaskppPlugin NAME /path/to/NAME.so`: C++17, symbols
# hidden except the two entry points FLASKPP_PLUGIN(app) defines, and no undefined symbol left
# (a missing library fails the build, not Apache's start).
include_guard(GLOBAL)

set(_FLASKPP_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/flaskpp_plugin.map")

function(flaskpp_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;LIBRARIES;INCLUDE_DIRECTORIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "flaskpp_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${name} PRIVATE flaskpp::sdk ${ARG_LIBRARIES})
  if(ARG_INCLUDE_DIRECTORIES)
    target_include_directories(${name} PRIVATE ${ARG_INCLUDE_DIRECTORIES})
  endif()
  target_link_options(${name} PRIVATE "-Wl,--no-undefined" "-Wl,--version-script=${_FLASKPP_PLUGIN_MAP}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${_FLASKPP_PLUGIN_MAP}")
endfunction()
