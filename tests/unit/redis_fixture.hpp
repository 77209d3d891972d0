// A private redis-server for one test: a free loopback port (bind port 0, read it back), its own
// temporary directory, no persistence; started in the constructor, polled until PING answers,
// killed in the destructor. stop() and restart() (same port) let a test take Redis away and bring
// it back. A missing redis-server is an error, never a skip: scripts/setup.sh installs it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

extern char** environ;

namespace flaskpp::test {

class RedisServer {
 public:
  // Throws std::runtime_error with the reason (redis-server missing, not answering).
  RedisServer() {
    // A port taken between our probe and redis-server's bind makes it exit: try another.
    std::string last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      try {
        start();
        return;
      } catch (const std::runtime_error& e) {
        last = e.what();
        if (last.find("not found") != std::string::npos) break;
      }
    }
    throw std::runtime_error(last);
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url(int db = 0) const { return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db); }
  bool running() const { return pid_ > 0; }

  // Kills the server (SIGKILL: an outage, not a shutdown) and waits until it is gone.
  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // SIGSTOP / SIGCONT: a hung server (connections accepted by the kernel, no answers).
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  // Starts it again on the same port (empty: nothing was persisted).
  void restart() {
    stop();
    start();
  }

  // One command on a fresh connection (for tests that inspect keys); nil/error come back as text.
  std::string command(const std::vector<std::string>& argv) const {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (!c || c->err) {
      if (c) redisFree(c);
      throw std::runtime_error("cannot connect to the test redis on port " + std::to_string(port_));
    }
    std::vector<const char*> p;
    std::vector<size_t> l;
    for (const auto& a : argv) {
      p.push_back(a.data());
      l.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), p.data(), l.data()));
    std::string out;
    if (!r) {
      out = "(no reply)";
    } else if (r->type == REDIS_REPLY_INTEGER) {
      out = std::to_string(r->integer);
    } else if (r->type == REDIS_REPLY_NIL) {
      out = "(nil)";
    } else if (r->type == REDIS_REPLY_ARRAY) {
      out = "(array " + std::to_string(r->elements) + ")";
    } else {
      out.assign(r->str, r->len);
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    return out;
  }

 private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot bind a free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void start() {
    std::string port = std::to_string(port_);
    std::string log = dir_.str() + "/redis.log";
    std::vector<std::string> args{"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", dir_.str(), "--logfile", log,
                                  "--daemonize", "no", "--protected-mode", "no"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "redis-server", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      throw std::runtime_error("redis-server not found or not runnable (" + std::string(strerror(rc)) +
                               "): install it (apt-get install redis-server; scripts/setup.sh does)");
    }
    pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
          throw std::runtime_error("redis-server not found: install it (apt-get install redis-server)");
        }
        throw std::runtime_error("redis-server exited at start on port " + port + "; see its log " + log);
      }
      if (ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("redis-server did not answer PING on port " + port + " within 10 s");
  }

  bool ping() const {
    timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool ok = false;
    if (c && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
      if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
  }

  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace flaskpp::test
