// A small synchronous Redis client over Debian's hiredis (0.14: no TLS), shared by the Redis job
// store (job_store_redis.hpp) and the rate limiter's Redis store: URL parsing, a fork-aware
// connection pool with timeouts and a fail-fast back-off, plain commands, and Lua scripts run by
// SHA with a fallback to EVAL. No hiredis type appears in this header.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.hpp"

namespace flaskpp::core {

struct RedisUrl {
  std::string host;  // name or address, as in the URL
  int port = 6379;
  int db = 0;  // SELECTed on every new connection
  // "redis://host:port/db", with the defaults filled in (for messages).
  std::string str() const;
};

// "redis://HOST[:PORT][/DB]" (port 1..65535, default 6379; db >= 0, default 0; IPv6 as [::1]).
// "rediss://..." throws ConfigError: TLS needs hiredis 1.0 and Debian 12 ships 0.14. Anything else
// (another scheme, credentials, a query, a bad port or db) throws ConfigError naming the text.
RedisUrl parse_redis_url(const std::string& text);

// Redis cannot be reached or a command failed on the wire (connect refused, timeout, connection
// closed), or the client is in its fail-fast back-off after such a failure. An error *reply*
// (e.g. WRONGTYPE, a script's error_reply) is not thrown: it comes back as RedisValue::kError.
class RedisError : public std::runtime_error {
 public:
  RedisError(const std::string& url, const std::string& detail)
      : std::runtime_error("redis " + url + ": " + detail), url_(url), detail_(detail) {}
  const std::string& url() const noexcept { return url_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string url_;
  std::string detail_;
};

// One reply, copied out of hiredis's reply object (RESP2 types).
struct RedisValue {
  enum class Kind { kNil, kInteger, kString, kArray, kStatus, kError };
  Kind kind = Kind::kNil;
  long long integer = 0;              // kInteger
  std::string str;                    // kString (binary-safe), kStatus ("OK"), kError (the message)
  std::vector<RedisValue> elements;   // kArray

  bool is_nil() const { return kind == Kind::kNil; }
  bool is_error() const { return kind == Kind::kError; }
  bool is_integer() const { return kind == Kind::kInteger; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_status() const { return kind == Kind::kStatus; }
};

// A Lua script and its SHA-1 (computed once, in the constructor). Immutable: share one instance
// (a namespace-scope const is fine) between threads.
class RedisScript {
 public:
  explicit RedisScript(std::string text);
  const std::string& text() const { return text_; }
  const std::string& sha1() const { return sha1_; }  // 40 lower-case hex digits

 private:
  std::string text_;
  std::string sha1_;
};

struct RedisOptions {
  std::int64_t connect_timeout_ms = 500;
  std::int64_t command_timeout_ms = 500;  // per reply; blocking_command adds its block time
  // Idle connections kept per process; one given back beyond this is closed.
  std::size_t max_idle_connections = 8;
  // After a failure on the wire, calls that would need a new connection throw at once for this
  // long (a dead Redis then costs nothing per request instead of a connect timeout); the first
  // call after it tries again, alone, while the others keep failing fast until it succeeds.
  std::int64_t retry_after_failure_ms = 1000;
};

// Thread-safe; one per URL per process. Connections live in a mutex-guarded pool stamped with the
// pid that opened them: after fork() the child abandons inherited ones (never uses nor closes
// them; the parent's stream would be corrupted) and opens its own. Call close_connections() in a
// parent before it forks children, so that they inherit no socket. The constructor does not
// connect. A failure on the wire closes that connection, drops every idle one (they probably
// died with the server) and starts the back-off; an idle connection the server has closed (Redis
// restarted) is noticed before use and replaced, so recovery needs no restart. Each call is one
// round trip on one connection (eval: two after a NOSCRIPT). Not covered yet: AUTH (credentials in
// the URL are refused), TLS, Sentinel/Cluster. A host name is resolved on every new connection,
// outside the connect timeout: an address keeps the bound strict.
class RedisClient {
 public:
  explicit RedisClient(RedisUrl url, RedisOptions options = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  const RedisUrl& url() const { return url_; }
  const RedisOptions& options() const { return options_; }  // max_idle_connections: as constructed

  // One command, arguments binary-safe. Throws RedisError on a wire failure; an error reply is
  // returned (kind kError).
  RedisValue command(const std::vector<std::string>& argv);
  // For commands that block in the server (BLPOP, BRPOPLPUSH, WAIT): the reply timeout is
  // block_ms plus the command timeout, on a connection borrowed for the whole call. Returns nil
  // at once when interrupt_blocking() ends the wait, and without sending anything when
  // interrupt_blocking() was called since the caller read interrupts() == interrupts_seen (so a
  // stop that comes between a caller's last check and the start of its wait is not missed).
  RedisValue blocking_command(const std::vector<std::string>& argv, std::int64_t block_ms,
                              std::uint64_t interrupts_seen);
  // The same, counting only interrupts from now on.
  RedisValue blocking_command(const std::vector<std::string>& argv, std::int64_t block_ms) {
    return blocking_command(argv, block_ms, interrupts());
  }
  // Ends every blocking_command of this process now in progress (shutdown(2) on its socket; the
  // connection is then closed, and Redis is not marked down) and counts one interrupt. For
  // stopping worker threads without waiting for their block timeout.
  void interrupt_blocking() noexcept;
  // interrupt_blocking() calls so far in this object.
  std::uint64_t interrupts() noexcept;
  // EVALSHA, and on NOSCRIPT (new or flushed server) EVAL, which also caches the script.
  RedisValue eval(const RedisScript& script, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args);

  // Changes RedisOptions::max_idle_connections (a child sizes its pool to its threads).
  void set_max_idle_connections(std::size_t n) noexcept;
  // Closes the idle connections of this process (in a parent before fork(), or on shutdown).
  void close_connections() noexcept;
  // Idle connections of this process now (at most max_idle_connections), for tests.
  std::size_t idle_connections();

  class Connection;  // one redisContext (redis.cpp)

 private:
  class Borrowed;
  Connection* acquire();
  Connection* connect();
  void give_back(Connection* c) noexcept;
  // A wire failure on c: closes it, drops the idle pool, starts the back-off, throws.
  [[noreturn]] void fail(Connection* c, const std::string& what);
  void mark_down(const std::string& why) noexcept;
  // nullopt on a wire failure (the caller, which owns c, then calls fail()).
  std::optional<RedisValue> run(Connection& c, const std::vector<std::string>& argv);

  RedisUrl url_;
  std::string url_text_;
  RedisOptions options_;
  std::size_t max_idle_;  // guarded by pool_mutex_
  std::mutex pool_mutex_;
  std::vector<Connection*> idle_;  // guarded by pool_mutex_; all opened by pool_pid_
  pid_t pool_pid_;                 // guarded by pool_mutex_
  std::uint64_t generation_ = 0;   // guarded by pool_mutex_; bumped by a failure
  std::string last_error_;         // guarded by pool_mutex_
  struct Blocked {
    int fd;
    bool interrupted;
  };
  std::vector<Blocked*> blocked_;  // guarded by pool_mutex_: blocking_command calls in progress
  std::uint64_t interrupts_ = 0;   // guarded by pool_mutex_: interrupt_blocking calls
  // steady-clock ms until which new connections are refused; 0 = healthy. A child inherits it;
  // that only delays its first try by at most retry_after_failure_ms.
  std::atomic<std::int64_t> down_until_ms_{0};
};

}  // namespace flaskpp::core
