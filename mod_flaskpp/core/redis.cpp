#include "core/redis.hpp"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

namespace flaskpp::core {

namespace {

constexpr const char kUsage[] = "expected redis://HOST[:PORT][/DB]";

[[noreturn]] void bad_url(const std::string& text, const std::string& why) {
  throw ConfigError("Redis URL \"" + text + "\": " + why);
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

// Digits only, at most `max`; -1 otherwise.
long parse_bounded(const std::string& s, long max) {
  if (!all_digits(s) || s.size() > 10) return -1;
  long v = std::stol(s);
  return v <= max ? v : -1;
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(std::int64_t ms) {
  if (ms < 1) ms = 1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

struct ReplyDeleter {
  void operator()(void* r) const noexcept { freeReplyObject(r); }
};

RedisValue convert(const redisReply& r) {
  RedisValue v;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      v.kind = RedisValue::Kind::kInteger;
      v.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
      v.kind = RedisValue::Kind::kString;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      v.kind = RedisValue::Kind::kStatus;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      v.kind = RedisValue::Kind::kError;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      v.kind = RedisValue::Kind::kArray;
      v.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) v.elements.push_back(convert(*r.element[i]));
      break;
    default:  // REDIS_REPLY_NIL
      break;
  }
  return v;
}

}  // namespace

std::string RedisUrl::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

RedisUrl parse_redis_url(const std::string& text) {
  if (text.rfind("rediss://", 0) == 0) {
    bad_url(text, "TLS needs hiredis 1.0; Debian 12 has 0.14 (use redis:// on a trusted network or a TLS tunnel)");
  }
  const std::string scheme = "redis://";
  if (text.rfind(scheme, 0) != 0) bad_url(text, kUsage);
  std::string rest = text.substr(scheme.size());
  if (rest.find_first_of("@?#") != std::string::npos) {
    bad_url(text, "credentials, queries and fragments are not supported; " + std::string(kUsage));
  }
  std::string authority = rest, db_text;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    db_text = rest.substr(slash + 1);
  }
  RedisUrl url;
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) bad_url(text, "unclosed [ in the host");
    url.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url(text, kUsage);
      port_text = after.substr(1);
      if (port_text.empty()) bad_url(text, "empty port");
    }
  } else {
    auto colon = authority.find(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) bad_url(text, "empty port");
    }
  }
  if (url.host.empty()) bad_url(text, "no host; " + std::string(kUsage));
  if (!port_text.empty()) {
    long port = parse_bounded(port_text, 65535);
    if (port < 1) bad_url(text, "port must be 1..65535");
    url.port = static_cast<int>(port);
  }
  if (!db_text.empty()) {
    long db = parse_bounded(db_text, INT_MAX);
    if (db < 0) bad_url(text, "database must be a number >= 0");
    url.db = static_cast<int>(db);
  }
  return url;
}

RedisScript::RedisScript(std::string text) : text_(std::move(text)) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text_.data(), text_.size(), md, &len, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA-1 of a Redis script failed");
  }
  static const char kHex[] = "0123456789abcdef";
  sha1_.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    sha1_.push_back(kHex[md[i] >> 4]);
    sha1_.push_back(kHex[md[i] & 15]);
  }
}

class RedisClient::Connection {
 public:
  Connection(redisContext* ctx, std::uint64_t generation) : ctx_(ctx), pid_(::getpid()), generation_(generation) {}
  ~Connection() { redisFree(ctx_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  redisContext* ctx() const { return ctx_; }
  pid_t pid() const { return pid_; }
  std::uint64_t generation() const { return generation_; }

  // Idle connections have nothing to read: readable means the server closed it (restart,
  // timeout) or something is wrong with it; either way it must not be used.
  bool stale() const {
    if (ctx_->err) return true;
    pollfd p{};
    p.fd = ctx_->fd;
    p.events = POLLIN;
    return ::poll(&p, 1, 0) != 0;
  }

 private:
  redisContext* ctx_;
  pid_t pid_;
  std::uint64_t generation_;
};

// A connection taken from the pool for one call; given back unless the call lost it.
class RedisClient::Borrowed {
 public:
  explicit Borrowed(RedisClient& client) : client_(client), c_(client.acquire()) {}
  ~Borrowed() {
    if (c_) client_.give_back(c_);
  }
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  Connection* get() const { return c_; }
  Connection* take() {  // the caller now owns it (to close it)
    Connection* c = c_;
    c_ = nullptr;
    return c;
  }

 private:
  RedisClient& client_;
  Connection* c_;
};

RedisClient::RedisClient(RedisUrl url, RedisOptions options)
    : url_(std::move(url)),
      url_text_(url_.str()),
      options_(options),
      max_idle_(options.max_idle_connections),
      pool_pid_(::getpid()) {}

void RedisClient::set_max_idle_connections(std::size_t n) noexcept {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  max_idle_ = n;
}

RedisClient::~RedisClient() { close_connections(); }

void RedisClient::close_connections() noexcept {
  std::vector<Connection*> idle;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    idle.swap(idle_);
    if (pool_pid_ != ::getpid()) {
      pool_pid_ = ::getpid();
      return;  // inherited from the parent: abandoned
    }
  }
  for (Connection* c : idle) delete c;
}

std::size_t RedisClient::idle_connections() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return pool_pid_ == ::getpid() ? idle_.size() : 0;
}

RedisClient::Connection* RedisClient::acquire() {
  std::vector<Connection*> stale;
  Connection* found = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_pid_ != ::getpid()) {
      idle_.clear();  // abandoned, see close_connections
      pool_pid_ = ::getpid();
    }
    while (!idle_.empty() && !found) {
      Connection* c = idle_.back();
      idle_.pop_back();
      if (c->stale()) {
        stale.push_back(c);
      } else {
        found = c;
      }
    }
  }
  for (Connection* c : stale) delete c;
  return found ? found : connect();
}

RedisClient::Connection* RedisClient::connect() {
  std::int64_t until = down_until_ms_.load();
  if (until != 0) {
    std::int64_t now = steady_ms();
    // After the back-off one caller probes (moving the deadline on); the rest keep failing fast.
    if (now < until || !down_until_ms_.compare_exchange_strong(until, now + options_.retry_after_failure_ms)) {
      std::string last;
      {
        std::lock_guard<std::mutex> lock(pool_mutex_);
        last = last_error_;
      }
      throw RedisError(url_text_, "unavailable, not retried for " + std::to_string(options_.retry_after_failure_ms) +
                                      " ms after: " + last);
    }
  }
  std::uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    generation = generation_;
  }
  redisContext* ctx = redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(options_.connect_timeout_ms));
  if (!ctx || ctx->err) {
    std::string msg = ctx ? ctx->errstr : "cannot allocate a context";
    if (ctx) redisFree(ctx);
    mark_down("cannot connect: " + msg);
    throw RedisError(url_text_, "cannot connect: " + msg);
  }
  auto c = std::make_unique<Connection>(ctx, generation);
  if (redisSetTimeout(ctx, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
    std::string msg = ctx->errstr;
    mark_down("cannot set timeout: " + msg);
    throw RedisError(url_text_, "cannot set timeout: " + msg);
  }
  redisEnableKeepAlive(ctx);  // a dead peer on an idle connection is noticed by the kernel
  if (url_.db != 0) {
    std::string db = std::to_string(url_.db);
    const char* argv[] = {"SELECT", db.c_str()};
    const std::size_t lens[] = {6, db.size()};
    std::unique_ptr<void, ReplyDeleter> reply(redisCommandArgv(ctx, 2, argv, lens));
    auto* r = static_cast<redisReply*>(reply.get());
    if (!r || r->type == REDIS_REPLY_ERROR) {
      std::string msg = "SELECT " + db + ": " + (r ? std::string(r->str, r->len) : std::string(ctx->errstr));
      mark_down(msg);
      throw RedisError(url_text_, msg);
    }
  }
  down_until_ms_.store(0);
  return c.release();
}

void RedisClient::give_back(Connection* c) noexcept {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (c->pid() != ::getpid()) return;  // borrowed before a fork: abandon
    if (pool_pid_ != ::getpid()) {
      idle_.clear();
      pool_pid_ = ::getpid();
    }
    if (c->generation() == generation_ && idle_.size() < max_idle_) {
      try {
        idle_.push_back(c);
        return;
      } catch (...) {
        // no memory to keep it: close it below
      }
    }
  }
  delete c;
}

void RedisClient::mark_down(const std::string& why) noexcept {
  down_until_ms_.store(steady_ms() + options_.retry_after_failure_ms);
  std::vector<Connection*> idle;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    try {
      last_error_ = why;
    } catch (...) {
      last_error_.clear();
    }
    ++generation_;  // connections borrowed now are closed when given back
    if (pool_pid_ == ::getpid()) idle.swap(idle_);
  }
  for (Connection* c : idle) delete c;
}

void RedisClient::fail(Connection* c, const std::string& what) {
  std::string msg = what + ": " + (c->ctx()->err ? std::string(c->ctx()->errstr) : std::string("no reply"));
  // hiredis reports a socket timeout as EAGAIN's text; say what it means.
  if (c->ctx()->err == REDIS_ERR_IO && std::string(c->ctx()->errstr) == std::strerror(EAGAIN)) {
    msg += " (no answer within the timeout)";
  }
  delete c;
  mark_down(msg);
  throw RedisError(url_text_, msg);
}

std::optional<RedisValue> RedisClient::run(Connection& c, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  std::unique_ptr<void, ReplyDeleter> reply(
      redisCommandArgv(c.ctx(), static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  if (!reply) return std::nullopt;  // a wire failure: the caller, which owns c, calls fail()
  return convert(*static_cast<redisReply*>(reply.get()));
}

RedisValue RedisClient::command(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("RedisClient::command: no arguments");
  Borrowed b(*this);
  std::optional<RedisValue> v = run(*b.get(), argv);
  if (!v) fail(b.take(), argv[0] + " failed");
  return std::move(*v);
}

RedisValue RedisClient::blocking_command(const std::vector<std::string>& argv, std::int64_t block_ms,
                                         std::uint64_t interrupts_seen) {
  if (argv.empty()) throw std::invalid_argument("RedisClient::blocking_command: no arguments");
  if (interrupts() != interrupts_seen) return RedisValue{};  // before connecting (checked again below)
  Borrowed b(*this);
  redisContext* ctx = b.get()->ctx();
  // Registered while the socket is certainly open: interrupt_blocking() shuts it down under the
  // pool mutex, so it never touches a descriptor that was closed and reused. An interrupt since
  // the caller's interrupts_seen ends the call here, under the same mutex: nothing was sent, and
  // the connection goes back to the pool as it was.
  Blocked me{ctx->fd, false};
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (interrupts_ != interrupts_seen) return RedisValue{};
    blocked_.push_back(&me);
  }
  auto unregister = [&] {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    for (std::size_t i = 0; i < blocked_.size(); ++i) {
      if (blocked_[i] == &me) {
        blocked_.erase(blocked_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    return me.interrupted;
  };
  std::optional<RedisValue> v;
  if (redisSetTimeout(ctx, to_timeval(block_ms + options_.command_timeout_ms)) != REDIS_OK) {
    if (unregister()) {  // shut down meanwhile: no sign of a Redis failure
      delete b.take();
      return RedisValue{};
    }
    fail(b.take(), "cannot set timeout");
  }
  try {
    v = run(*b.get(), argv);
  } catch (...) {
    v.reset();  // no memory for the reply: treated as a wire failure below
  }
  bool interrupted = unregister();
  if (interrupted) {
    delete b.take();  // shut down: never reused, and no sign of a Redis failure
    return v ? std::move(*v) : RedisValue{};
  }
  if (!v) fail(b.take(), argv[0] + " failed");
  if (redisSetTimeout(ctx, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
    delete b.take();  // the answer is good; only this connection cannot be reused
  }
  return std::move(*v);
}

std::uint64_t RedisClient::interrupts() noexcept {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return interrupts_;
}

void RedisClient::interrupt_blocking() noexcept {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  ++interrupts_;
  for (Blocked* w : blocked_) {
    if (!w->interrupted) ::shutdown(w->fd, SHUT_RDWR);
    w->interrupted = true;
  }
}

RedisValue RedisClient::eval(const RedisScript& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  Borrowed b(*this);
  std::optional<RedisValue> v = run(*b.get(), argv);
  if (!v) fail(b.take(), "EVALSHA failed");
  if (v->is_error() && v->str.rfind("NOSCRIPT", 0) == 0) {
    argv[0] = "EVAL";
    argv[1] = script.text();
    v = run(*b.get(), argv);
    if (!v) fail(b.take(), "EVAL failed");
  }
  return std::move(*v);
}

}  // namespace flaskpp::core
