// `apache2 -t` on deliberately broken configurations: each must fail, naming the directive, the
// file and line, and what is wrong. One well-formed configuration must pass.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;
};

class ConfigCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flaskpp-cfg-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "run");
    fs::create_directories(dir_ / "templates");
    std::ofstream(dir_ / "templates" / "index.html") << "<h1>{{x}}</h1>\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }

  // The body lines start at line kFirstLine of the generated file.
  static constexpr int kFirstLine = 11;
  Outcome check(const std::string& body) const {
    std::string conf = path("httpd.conf");
    std::ofstream out(conf);
    out << "ServerRoot \"" << dir_.string() << "\"\n"
        << "ServerName 127.0.0.1\n"
        << "Listen 127.0.0.1:1\n"
        << "PidFile \"" << path("run/httpd.pid") << "\"\n"
        << "DefaultRuntimeDir \"" << path("run") << "\"\n"
        << "ErrorLog \"" << path("error_log") << "\"\n"
        << "LoadModule mpm_event_module " << HTTPD_MODULES_DIR << "/mod_mpm_event.so\n"
        << "LoadModule authz_core_module " << HTTPD_MODULES_DIR << "/mod_authz_core.so\n"
        << "LoadModule flaskpp_module " << FLASKPP_MODULE << "\n"
        << "# test body follows\n"
        << body << "\n";
    out.close();
    // FLASKPP_HTTPD: another httpd binary or wrapper (scripts/sanitize.sh: httpd-sanitized.sh).
    const char* httpd = std::getenv("FLASKPP_HTTPD");
    std::string cmd = std::string(httpd && *httpd ? httpd : HTTPD_BIN) + " -t -f " + conf + " 2>&1";
    Outcome o;
    FILE* p = ::popen(cmd.c_str(), "r");
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.output.append(buf.data(), n);
    int status = ::pclose(p);
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return o;
  }

  // Asserts failure with the directive's file and line and the expected message.
  void expect_rejected(const std::string& body, int line_in_body, const std::string& directive,
                       const std::string& message) const {
    Outcome o = check(body);
    EXPECT_NE(o.exit_code, 0) << o.output;
    std::string where = "line " + std::to_string(kFirstLine + line_in_body) + " of " + path("httpd.conf");
    EXPECT_NE(o.output.find(where), std::string::npos) << "expected '" << where << "' in:\n" << o.output;
    EXPECT_NE(o.output.find(directive + ": "), std::string::npos) << o.output;
    EXPECT_NE(o.output.find(message), std::string::npos) << "expected '" << message << "' in:\n" << o.output;
  }

  // A configuration that parses but cannot work: check_config stops Apache, naming the
  // directive's file:line when one directive is at fault.
  void expect_refused_at_check(const std::string& body, int line_in_body, const std::string& message) const {
    Outcome o = check(body);
    EXPECT_NE(o.exit_code, 0) << o.output;
    if (line_in_body >= 0) {
      std::string where = path("httpd.conf") + ":" + std::to_string(kFirstLine + line_in_body);
      EXPECT_NE(o.output.find(where), std::string::npos) << "expected '" << where << "' in:\n" << o.output;
    }
    EXPECT_NE(o.output.find(message), std::string::npos) << "expected '" << message << "' in:\n" << o.output;
  }

  fs::path dir_;
};

TEST_F(ConfigCheck, WellFormedConfigurationPasses) {
  write("app.json", "{\"APP_NAME\": \"x\", \"N\": 3}");
  Outcome o = check(
      "FlaskppEnv development\n"
      "FlaskppTemplateDir templates\n"
      "FlaskppConfigFile app.json\n"
      "FlaskppConfigFile app.json production\n"
      "FlaskppConfig GREETING \"Hello there\"\n"
      "FlaskppRoute GET / template index.html\n"
      "FlaskppRoute GET,POST /api/<int(min=1):id> handler echo\n"
      "FlaskppRoute * /any/<path:p> handler health\n"
      "FlaskppRoute GET /old redirect /new 308\n"
      "FlaskppErrorTemplate 404 index.html\n");
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("Syntax OK"), std::string::npos) << o.output;
}

TEST_F(ConfigCheck, UnknownConverter) {
  expect_rejected("FlaskppRoute GET /u/<foo:x> handler echo", 0, "FlaskppRoute", "unknown converter 'foo'");
}

TEST_F(ConfigCheck, BadConverterArgument) {
  expect_rejected("\nFlaskppRoute GET /u/<int(min=abc):x> handler echo", 1, "FlaskppRoute",
                  "min must be an integer");
}

TEST_F(ConfigCheck, BadMethod) {
  expect_rejected("FlaskppRoute FETCH / handler health", 0, "FlaskppRoute", "bad method 'FETCH'");
}

TEST_F(ConfigCheck, MalformedPattern) {
  expect_rejected("FlaskppRoute GET /users/<id handler echo", 0, "FlaskppRoute", "unclosed '<'");
  expect_rejected("FlaskppRoute GET users handler echo", 0, "FlaskppRoute", "must start with '/'");
  expect_rejected("FlaskppRoute GET /a/<x>/<x> handler echo", 0, "FlaskppRoute", "variable 'x' used twice");
}

TEST_F(ConfigCheck, UnknownActionHandlerOrRedirectCode) {
  expect_rejected("FlaskppRoute GET / render index.html", 0, "FlaskppRoute", "unknown action 'render'");
  // Handler names are resolved against the configuration's registry (built-ins and plugins).
  expect_refused_at_check("\nFlaskppRoute GET / handler nope", 1, "unknown handler 'nope' (known: echo, health)");
  expect_rejected("FlaskppRoute GET / redirect /x 200", 0, "FlaskppRoute", "must be 301, 302, 303, 307 or 308");
  expect_rejected("FlaskppRoute GET /", 0, "FlaskppRoute", "needs METHODS PATTERN ACTION");
}

// Defect: sizes and counts from configuration overflowed silently (17179869184G parsed to 0, so
// every body was a 413; MAX_CONTENT_LENGTH went through an unchecked double cast).
TEST_F(ConfigCheck, SizesThatDoNotFitAreRefused) {
  expect_rejected("FlaskppUploadMaxSize 17179869184G", 0, "FlaskppUploadMaxSize", "too large");
  expect_rejected("FlaskppUploadMaxSize 0", 0, "FlaskppUploadMaxSize", "size '0'");
  expect_refused_at_check("FlaskppConfig MAX_CONTENT_LENGTH 1e300\nFlaskppRoute GET / handler health", -1,
                          "MAX_CONTENT_LENGTH");
  expect_refused_at_check("FlaskppConfig JSON_MAX_DEPTH -1\nFlaskppRoute GET / handler health", -1, "JSON_MAX_DEPTH");
}

TEST_F(ConfigCheck, UploadWorkDirMustBeOutsideTheServedDirectory) {
  fs::create_directories(dir_ / "up" / "tmp");
  expect_refused_at_check("FlaskppUploadDir up /up\nFlaskppUploadWorkDir up/tmp\nFlaskppRoute POST /u upload f", -1,
                          "inside the served upload directory");
}

// A missing work directory is created at startup; an existing one is never taken over, so it must
// already be writable by Apache's User (here the default User, not root).
TEST_F(ConfigCheck, UploadWorkDirIsCreatedOrMustBeWritable) {
  fs::create_directories(dir_ / "up");
  Outcome created = check("FlaskppUploadDir up /up\nFlaskppUploadWorkDir state/work\nFlaskppRoute POST /u upload f");
  EXPECT_EQ(created.exit_code, 0) << created.output;
  EXPECT_TRUE(fs::is_directory(dir_ / "state" / "work"));
  fs::create_directories(dir_ / "rootonly");
  fs::permissions(dir_ / "rootonly", fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  expect_refused_at_check("FlaskppUploadDir up /up\nFlaskppUploadWorkDir rootonly\nFlaskppRoute POST /u upload f", -1,
                          "exists but is not writable by Apache's User");
}

TEST_F(ConfigCheck, MissingTemplateDir) {
  expect_rejected("FlaskppTemplateDir /nonexistent/flaskpp/templates", 0, "FlaskppTemplateDir",
                  "does not exist or is not a directory");
}

TEST_F(ConfigCheck, UnreadableConfigFile) {
  expect_rejected("FlaskppConfigFile /nonexistent/flaskpp.json", 0, "FlaskppConfigFile", "cannot read config file");
}

TEST_F(ConfigCheck, InvalidJsonConfigFile) {
  write("bad.json", "{\"a\": }");
  expect_rejected("FlaskppConfigFile bad.json", 0, "FlaskppConfigFile", "invalid JSON in config file");
  expect_rejected("FlaskppConfigFile bad.json", 0, "FlaskppConfigFile", "at offset 6");
  write("list.json", "[1, 2]");
  expect_rejected("FlaskppConfigFile list.json", 0, "FlaskppConfigFile", "must hold a JSON object");
}

TEST_F(ConfigCheck, BadEnvironment) {
  expect_rejected("FlaskppEnv staging", 0, "FlaskppEnv", "'staging' is not an environment");
  write("ok.json", "{}");
  expect_rejected("FlaskppConfigFile ok.json staging", 0, "FlaskppConfigFile", "must be development or production");
}

TEST_F(ConfigCheck, BadErrorTemplateOrConfigKey) {
  expect_rejected("FlaskppErrorTemplate 200 index.html", 0, "FlaskppErrorTemplate", "from 400 to 599");
  expect_rejected("FlaskppErrorTemplate 404 ../x.html", 0, "FlaskppErrorTemplate", "without '..'");
  expect_rejected("FlaskppConfig 1BAD x", 0, "FlaskppConfig", "invalid key '1BAD'");
}

TEST_F(ConfigCheck, BadUploadDirectives) {
  expect_rejected("FlaskppUploadDir /nonexistent/flaskpp/uploads /u", 0, "FlaskppUploadDir",
                  "upload directory '/nonexistent/flaskpp/uploads' does not exist");
  expect_rejected("FlaskppUploadDir templates static/img", 0, "FlaskppUploadDir", "must start with '/'");
  expect_rejected("FlaskppUploadAllow .png jpg", 0, "FlaskppUploadAllow", "extension 'jpg' must look like .png");
  expect_rejected("FlaskppUploadMaxSize 16X", 0, "FlaskppUploadMaxSize", "must be a number of bytes");
  expect_rejected("FlaskppUploadMaxParts 0", 0, "FlaskppUploadMaxParts", "from 1 to 1000000");
  expect_rejected("FlaskppRoute POST /up upload file then=html", 0, "FlaskppRoute", "must be json or template:NAME");
  Outcome flag = check("FlaskppQuickHandler maybe");  // Apache's own FLAG parsing
  EXPECT_NE(flag.exit_code, 0);
  EXPECT_NE(flag.output.find("FlaskppQuickHandler must be On or Off"), std::string::npos) << flag.output;
}

TEST_F(ConfigCheck, UploadRouteWithoutUploadDirFailsTheCheck) {
  Outcome o = check("FlaskppRoute POST /up upload file");
  EXPECT_NE(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("uploads files but no FlaskppUploadDir is set"), std::string::npos) << o.output;
}

TEST_F(ConfigCheck, DirectiveOutsideItsContext) {
  Outcome o = check("<Directory />\nFlaskppRoute GET / handler health\n</Directory>");
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.output.find("FlaskppRoute not allowed in <Directory> context"), std::string::npos) << o.output;
}

TEST_F(ConfigCheck, TemplateRouteWithoutTemplateDirFailsTheCheck) {
  Outcome o = check("FlaskppRoute GET / template index.html");
  EXPECT_NE(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("no FlaskppTemplateDir is set"), std::string::npos) << o.output;
}

}  // namespace

// --- plugins (tests/plugins/) -------------------------------------------------------------------

std::string plugin(const std::string& name) { return std::string(FLASKPP_TEST_PLUGINS) + "/" + name + ".so"; }

TEST_F(ConfigCheck, PluginLoadsAndItsHandlersCanBeRouted) {
  Outcome o = check("FlaskppPlugin testplug " + plugin("testplug") + " file=/etc/hostname\n"
                    "FlaskppRoute GET /hello handler t.hello\n");
  EXPECT_EQ(o.exit_code, 0) << o.output;
}

TEST_F(ConfigCheck, PluginBuiltAgainstAnotherSdkIsRefused) {
  expect_rejected("FlaskppPlugin other " + plugin("bad_abi_plugin"), 0, "FlaskppPlugin",
                  "plugin other (" + plugin("bad_abi_plugin") +
                      ") cannot be used: it was built against SDK 99.1, this module provides SDK 1.1");
}

TEST_F(ConfigCheck, SharedObjectWithoutEntryPointIsRefused) {
  expect_rejected("FlaskppPlugin nope " + plugin("no_entry_plugin"), 0, "FlaskppPlugin",
                  "plugin nope (" + plugin("no_entry_plugin") +
                      ") is not a mod_flaskpp plugin: entry point flaskpp_plugin_abi_v1 is missing");
}

TEST_F(ConfigCheck, MissingPluginFileIsRefused) {
  expect_rejected("FlaskppPlugin gone /nonexistent/gone.so", 0, "FlaskppPlugin",
                  "plugin gone: cannot load /nonexistent/gone.so");
}

TEST_F(ConfigCheck, HandlerNameRegisteredTwiceIsRefused) {
  expect_rejected("FlaskppPlugin dup " + plugin("dup_plugin"), 0, "FlaskppPlugin",
                  "plugin dup (" + plugin("dup_plugin") + "): handler 'echo' is already registered (built-in)");
  expect_rejected("FlaskppPlugin dupself " + plugin("dup_plugin"), 0, "FlaskppPlugin",
                  "plugin dupself (" + plugin("dup_plugin") + "): handler 'd.twice' is registered twice");
  expect_rejected("FlaskppPlugin one " + plugin("testplug") + "\nFlaskppPlugin one " + plugin("testplug"), 1,
                  "FlaskppPlugin", "plugin one is loaded twice");
}

TEST_F(ConfigCheck, RouteNamingAnUnknownPluginHandlerIsRefused) {
  expect_refused_at_check("FlaskppPlugin testplug " + plugin("testplug") + "\nFlaskppRoute GET /x handler t.nope", 1,
                          "unknown handler 't.nope'");
}

TEST_F(ConfigCheck, PluginNameAndOptionsAreChecked) {
  expect_rejected("FlaskppPlugin bad/name " + plugin("testplug"), 0, "FlaskppPlugin",
                  "plugin name 'bad/name' may hold only letters, digits, '_' and '-'");
  expect_rejected("FlaskppPlugin testplug " + plugin("testplug") + " novalue", 0, "FlaskppPlugin",
                  "plugin testplug: option 'novalue' is not key=value");
  expect_rejected("FlaskppPlugin lonely", 0, "FlaskppPlugin", "needs NAME PATH.so [key=value ...]");
}

TEST_F(ConfigCheck, PluginOnlyInTheServerConfig) {
  Outcome o = check("<VirtualHost 127.0.0.1:1>\nFlaskppPlugin testplug " + plugin("testplug") + "\n</VirtualHost>");
  EXPECT_NE(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("cannot occur within <VirtualHost> section"), std::string::npos) << o.output;
}

// --- jobs ---------------------------------------------------------------------------------------

TEST_F(ConfigCheck, JobDirectivesAreChecked) {
  expect_rejected("FlaskppJobStore memcache:x", 0, "FlaskppJobStore", "is not a job store: use sqlite:PATH or redis://");
  expect_rejected("FlaskppJobStore rediss://x", 0, "FlaskppJobStore", "TLS needs hiredis 1.0");
  expect_rejected("FlaskppJobStore redis://x:99999/0", 0, "FlaskppJobStore", "redis://x:99999/0");
  expect_rejected("FlaskppJobStore sqlite:", 0, "FlaskppJobStore", "is not a job store: use sqlite:PATH");
  expect_rejected("FlaskppJobGrace 0", 0, "FlaskppJobGrace", "is not a duration");
  expect_rejected("FlaskppJobTimeout 1y", 0, "FlaskppJobTimeout", "is not a duration");
  expect_rejected("FlaskppJobStore sqlite:jobs.sqlite sync=sometimes", 0, "FlaskppJobStore",
                  "must be sync=normal or sync=full");
  expect_rejected("FlaskppJobWorkers many", 0, "FlaskppJobWorkers", "must be a number from 0 to 256");
  expect_rejected("FlaskppJobQueueMax 0", 0, "FlaskppJobQueueMax", "must be a number from 1 to");
  expect_rejected("FlaskppJobLease 100ms", 0, "FlaskppJobLease", "cannot be renewed in time");
  expect_rejected("FlaskppJobRetention soon", 0, "FlaskppJobRetention", "is not a duration");
  expect_rejected("FlaskppRoute POST /j job echo timeout=forever", 0, "FlaskppRoute", "is not a duration");
  expect_rejected("FlaskppRoute GET /jobs job-status", 0, "FlaskppRoute", "exactly one parameter");
  expect_rejected("FlaskppRoute GET,POST /j job echo", 0, "FlaskppRoute", "a job route takes POST (or PUT, PATCH, DELETE), not GET");
  expect_rejected("FlaskppRoute * /j job echo", 0, "FlaskppRoute", "not *");
  Outcome vhost = check("<VirtualHost 127.0.0.1:1>\nFlaskppJobWorkers 4\n</VirtualHost>");
  EXPECT_NE(vhost.exit_code, 0);
  EXPECT_NE(vhost.output.find("cannot occur within <VirtualHost> section"), std::string::npos) << vhost.output;
}

TEST_F(ConfigCheck, JobRoutesNeedAKnownNameAndAStatusRoute) {
  // A new directory each time: one the check created belongs to Apache's User (here none is set).
  expect_refused_at_check("FlaskppJobStore sqlite:jobs1/j.sqlite\nFlaskppRoute POST /j job nope\n"
                          "FlaskppRoute GET /jobs/<uuid:id> job-status",
                          1, "unknown job 'nope'");
  expect_refused_at_check("FlaskppJobStore sqlite:jobs2/j.sqlite\nFlaskppRoute POST /j job echo", 1,
                          "needs a job-status route");
  Outcome ok = check("FlaskppJobStore sqlite:jobs/j.sqlite\nFlaskppRoute POST /j job echo attempts=2\n"
                     "FlaskppRoute GET /jobs/<uuid:id> job-status\nFlaskppRoute DELETE /jobs/<uuid:id> job-cancel");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(path("jobs/j.sqlite"))) << "the store is created at the check";
}

TEST_F(ConfigCheck, CorruptJobStoreFailsTheCheck) {
  fs::create_directories(dir_ / "ro");
  fs::permissions(dir_ / "ro", fs::perms::all);  // writable: the file itself is what is wrong
  std::ofstream(dir_ / "ro" / "j.sqlite") << "this is not an SQLite database, it is text that is long enough";
  expect_refused_at_check("FlaskppJobStore sqlite:ro/j.sqlite\nFlaskppRoute POST /j job echo\n"
                          "FlaskppRoute GET /jobs/<uuid:id> job-status",
                          -1, "the job store cannot work: job store " + path("ro/j.sqlite") + ":");
  // And a directory Apache's User cannot write.
  fs::create_directories(dir_ / "locked");
  fs::permissions(dir_ / "locked", fs::perms::owner_all);
  expect_refused_at_check("FlaskppJobStore sqlite:locked/j.sqlite\nFlaskppRoute POST /j job echo\n"
                          "FlaskppRoute GET /jobs/<uuid:id> job-status",
                          -1, "job store directory '" + path("locked") + "' exists but is not writable by Apache's User");
}
