# Installing mod_flaskpp the Apache way, and the Debian packages (CPack), from the main build.
#
#   cmake --install build                        everything below (needs root for /usr/lib/apache2,
#                                                /etc/apache2); --component module|demo|sdk for parts
#   scripts/package-deb.sh [BUILD]               the .deb files, into BUILD/pkg/
#
# Components:
#   module  mod_flaskpp.so into Apache's module directory (apxs -q LIBEXECDIR); on Debian layouts
#           flaskpp.load and flaskpp.conf into /etc/apache2/mods-available (`a2enmod flaskpp`);
#           Swagger UI's assets (npm swagger-ui-dist, the files FlaskppSwaggerUI serves) into
#           PREFIX/share/mod-flaskpp/swagger-ui-dist, where the module finds them by default.
#   demo    the demo app (conf/, templates/, htdocs/, the digits model) into
#           PREFIX/share/mod-flaskpp/demo, its plugin into PREFIX/lib/mod-flaskpp/plugins, and the
#           site /etc/apache2/sites-available/flaskpp-demo.conf (`a2ensite flaskpp-demo`).
#   sdk     the plugin SDK: headers and CMake package (see the main CMakeLists).
# Packages: libapache2-mod-flaskpp (module + demo) and libapache2-mod-flaskpp-dev (sdk).

set(FLASKPP_APACHE_CONFDIR "/etc/apache2" CACHE PATH "Debian's Apache configuration directory")
if(EXISTS "${FLASKPP_APACHE_CONFDIR}/mods-available")
  set(_flaskpp_debian_layout ON)
else()
  set(_flaskpp_debian_layout OFF)
endif()
option(FLASKPP_INSTALL_APACHE_CONF "Install flaskpp.load/.conf and the demo site into ${FLASKPP_APACHE_CONFDIR}"
       ${_flaskpp_debian_layout})

set(FLASKPP_SWAGGER_UI_SRC "${CMAKE_BINARY_DIR}/_deps/swagger-ui-dist/node_modules/swagger-ui-dist")
set(FLASKPP_SHARE_SUBDIR "${CMAKE_INSTALL_DATADIR}/mod-flaskpp")
set(FLASKPP_PLUGIN_SUBDIR "lib/mod-flaskpp/plugins")

# --- module ----------------------------------------------------------------------------------
install(FILES "${FLASKPP_SWAGGER_UI_SRC}/swagger-ui.css" "${FLASKPP_SWAGGER_UI_SRC}/swagger-ui-bundle.js"
  "${FLASKPP_SWAGGER_UI_SRC}/swagger-ui-standalone-preset.js" "${FLASKPP_SWAGGER_UI_SRC}/favicon-16x16.png"
  "${FLASKPP_SWAGGER_UI_SRC}/favicon-32x32.png" "${FLASKPP_SWAGGER_UI_SRC}/LICENSE"
  "${FLASKPP_SWAGGER_UI_SRC}/package.json"
  DESTINATION "${FLASKPP_SHARE_SUBDIR}/swagger-ui-dist" COMPONENT module)
if(FLASKPP_INSTALL_APACHE_CONF)
  install(FILES "${CMAKE_SOURCE_DIR}/conf/flaskpp.load" "${CMAKE_SOURCE_DIR}/conf/debian/flaskpp.conf"
    DESTINATION "${FLASKPP_APACHE_CONFDIR}/mods-available" COMPONENT module)
endif()

# --- demo ------------------------------------------------------------------------------------
install(FILES "${CMAKE_SOURCE_DIR}/conf/flaskpp.conf" "${CMAKE_SOURCE_DIR}/conf/flaskpp-server.conf"
  "${CMAKE_SOURCE_DIR}/conf/config.json" "${CMAKE_SOURCE_DIR}/conf/config.development.json"
  DESTINATION "${FLASKPP_SHARE_SUBDIR}/demo/conf" COMPONENT demo)
install(DIRECTORY "${CMAKE_SOURCE_DIR}/conf/schemas" DESTINATION "${FLASKPP_SHARE_SUBDIR}/demo/conf" COMPONENT demo)
install(DIRECTORY "${CMAKE_SOURCE_DIR}/templates" DESTINATION "${FLASKPP_SHARE_SUBDIR}/demo" COMPONENT demo)
# Static files; uploaded images live in the data directory (the site's Alias /static/img).
install(DIRECTORY "${CMAKE_SOURCE_DIR}/htdocs" DESTINATION "${FLASKPP_SHARE_SUBDIR}/demo" COMPONENT demo
  PATTERN "img" EXCLUDE)
install(FILES "${CMAKE_SOURCE_DIR}/models/digits/weights.json"
  DESTINATION "${FLASKPP_SHARE_SUBDIR}/demo/models/digits" COMPONENT demo)
# The digits plugin as scripts/build-examples.sh builds it: against the installed SDK, like any
# user's plugin (the build fails here when it was not run; scripts/setup.sh runs it).
install(FILES "${CMAKE_BINARY_DIR}/examples/digits/digits.so"
  DESTINATION "${FLASKPP_PLUGIN_SUBDIR}/digits" COMPONENT demo)
if(FLASKPP_INSTALL_APACHE_CONF)
  # The site names the installed paths: written at install time, when the prefix is known
  # (cpack installs with DESTDIR and PREFIX /usr).
  install(CODE "
    set(DEMO_DIR \"\${CMAKE_INSTALL_PREFIX}/${FLASKPP_SHARE_SUBDIR}/demo\")
    set(PLUGIN_DIR \"\${CMAKE_INSTALL_PREFIX}/${FLASKPP_PLUGIN_SUBDIR}\")
    set(DATA_DIR \"/var/lib/mod-flaskpp\")
    configure_file(\"${CMAKE_SOURCE_DIR}/conf/debian/flaskpp-demo.conf.in\"
                   \"${CMAKE_BINARY_DIR}/pkg-site/flaskpp-demo.conf\" @ONLY)
    file(INSTALL \"${CMAKE_BINARY_DIR}/pkg-site/flaskpp-demo.conf\"
         DESTINATION \"${FLASKPP_APACHE_CONFDIR}/sites-available\")
  " COMPONENT demo)
endif()

# --- Debian packages ---------------------------------------------------------------------------
file(STRINGS "${HTTPD_INCLUDE_DIR}/ap_mmn.h" _mmn REGEX "^#define MODULE_MAGIC_NUMBER_MAJOR [0-9]+")
string(REGEX MATCH "[0-9]+$" FLASKPP_APACHE_API "${_mmn}")

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "libapache2-mod-flaskpp")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "mod_flaskpp")
set(CPACK_PACKAGE_CONTACT "mod_flaskpp maintainers <maintainers@mod-flaskpp.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Flask-style web apps and ML models served natively by Apache httpd")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_SET_DESTDIR ON)  # absolute destinations (/usr/lib/apache2/modules, /etc/apache2)
set(CPACK_OUTPUT_FILE_PREFIX "${CMAKE_BINARY_DIR}/pkg")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL module demo sdk)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_COMPONENT_MODULE_GROUP main)
set(CPACK_COMPONENT_DEMO_GROUP main)
set(CPACK_COMPONENT_SDK_GROUP dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "httpd")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://mod-flaskpp.invalid/")

set(CPACK_DEBIAN_MAIN_PACKAGE_NAME "libapache2-mod-flaskpp")
set(CPACK_DEBIAN_MAIN_DESCRIPTION "Flask-style web apps and ML models served natively by Apache httpd
 mod_flaskpp is an Apache 2.4 module: routes, templates, JSON, uploads, sessions, rate limits,
 background jobs and C++ plugins declared with httpd.conf directives and answered inside Apache's
 own threads, with no WSGI hop. Ships the demo app as the site flaskpp-demo (not enabled).")
# Runtime libraries from dpkg-shlibdeps; the module ABI from Apache's magic number.
set(CPACK_DEBIAN_MAIN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_MAIN_PACKAGE_DEPENDS "apache2-api-${FLASKPP_APACHE_API}, apache2")
set(CPACK_DEBIAN_MAIN_PACKAGE_CONTROL_EXTRA
  "${CMAKE_SOURCE_DIR}/cmake/debian/postinst;${CMAKE_SOURCE_DIR}/cmake/debian/prerm;${CMAKE_SOURCE_DIR}/cmake/debian/postrm;${CMAKE_BINARY_DIR}/pkg-control/conffiles")
set(CPACK_DEBIAN_MAIN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
file(WRITE "${CMAKE_BINARY_DIR}/pkg-control/conffiles"
  "${FLASKPP_APACHE_CONFDIR}/mods-available/flaskpp.load\n${FLASKPP_APACHE_CONFDIR}/mods-available/flaskpp.conf\n${FLASKPP_APACHE_CONFDIR}/sites-available/flaskpp-demo.conf\n")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME "libapache2-mod-flaskpp-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_ARCHITECTURE "all")
set(CPACK_DEBIAN_DEV_DESCRIPTION "mod_flaskpp plugin SDK: one C++ header and a CMake package
 find_package(flaskpp CONFIG) and flaskpp_add_plugin(NAME SOURCES ...) build a plugin that
 mod_flaskpp loads with FlaskppPlugin.")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "rapidjson-dev, cmake (>= 3.16)")
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "libapache2-mod-flaskpp (= ${PROJECT_VERSION})")
include(CPack)
