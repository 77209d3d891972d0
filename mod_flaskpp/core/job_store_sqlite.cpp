#include "core/job_store_sqlite.hpp"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <utility>

namespace flaskpp::core {

namespace {

// Status is stored as its name so that `sqlite3 jobs.db 'select ...'` reads plainly; the partial
// indexes keep the hot lookups (oldest queued, expired leases, old finished jobs) small.
const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id               TEXT NOT NULL UNIQUE,
  name             TEXT NOT NULL,
  origin           TEXT NOT NULL DEFAULT '',
  status           TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL,
  created_ms       INTEGER NOT NULL,
  started_ms       INTEGER NOT NULL DEFAULT 0,
  finished_ms      INTEGER NOT NULL DEFAULT 0,
  updated_ms       INTEGER NOT NULL,
  progress         REAL NOT NULL DEFAULT 0,
  progress_message TEXT NOT NULL DEFAULT '',
  input_json       TEXT NOT NULL DEFAULT '',
  result_json      TEXT NOT NULL DEFAULT '',
  error            TEXT NOT NULL DEFAULT '',
  spool_dir        TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  timeout_ms       INTEGER NOT NULL DEFAULT 0,
  lease_owner      TEXT NOT NULL DEFAULT '',
  lease_expires_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_claim_order ON jobs(created_ms) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_lease_expiry ON jobs(lease_expires_ms) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_purge ON jobs(finished_ms) WHERE status IN ('done', 'failed', 'cancelled');
)sql";

#define FPP_JOB_COLUMNS                                                                          \
  "id, name, origin, status, attempts, max_attempts, created_ms, started_ms, finished_ms, "    \
  "updated_ms, progress, progress_message, input_json, result_json, error, spool_dir, "         \
  "cancel_requested, timeout_ms, lease_owner, lease_expires_ms"

const char* const kInsert =
    "INSERT INTO jobs (" FPP_JOB_COLUMNS ") VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5, 0, 0, ?5, 0, '', "
    "?6, '', '', ?7, 0, ?8, '', 0)";
// Two counts so that each runs on its partial index; `status IN (...)` would scan the whole table,
// finished jobs included, on every enqueue.
const char* const kCountActive =
    "SELECT (SELECT count(*) FROM jobs WHERE status = 'queued') + "
    "(SELECT count(*) FROM jobs WHERE status = 'running')";
const char* const kExpireCancelled =
    "UPDATE jobs SET status = 'cancelled', error = 'cancelled by request', finished_ms = ?1, "
    "updated_ms = ?1, lease_expires_ms = 0 "
    "WHERE status = 'running' AND lease_expires_ms <= ?1 AND cancel_requested <> 0";
const char* const kExpireExhausted =
    "UPDATE jobs SET status = 'failed', error = 'lease expired after ' || attempts || ' attempts', "
    "finished_ms = ?1, updated_ms = ?1, lease_expires_ms = 0 "
    "WHERE status = 'running' AND lease_expires_ms <= ?1 AND attempts >= max_attempts";
const char* const kExpireRequeue =
    "UPDATE jobs SET status = 'queued', lease_owner = '', lease_expires_ms = 0, updated_ms = ?1 "
    "WHERE status = 'running' AND lease_expires_ms <= ?1";
const char* const kClaim =
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_ms = ?1, updated_ms = ?1, "
    "progress = 0, progress_message = '', lease_owner = ?2, lease_expires_ms = ?3 "
    "WHERE rowid = (SELECT rowid FROM jobs WHERE status = 'queued' ORDER BY created_ms, rowid LIMIT 1) "
    "RETURNING " FPP_JOB_COLUMNS;
const char* const kRenew =
    "UPDATE jobs SET lease_expires_ms = ?3, updated_ms = ?4 "
    "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'";
const char* const kProgress =
    "UPDATE jobs SET progress = ?3, progress_message = ?4, updated_ms = ?5 "
    "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'";
const char* const kFinishDone =
    "UPDATE jobs SET status = 'done', result_json = ?3, error = '', progress = 1, finished_ms = ?4, "
    "updated_ms = ?4, lease_expires_ms = 0 WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'";
const char* const kFinishError =
    "UPDATE jobs SET status = ?5, error = ?3, finished_ms = ?4, updated_ms = ?4, lease_expires_ms = 0 "
    "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'";
// A requested cancel wins over a retry or release: the client asked for the job to stop.
const char* const kRetry =
    "UPDATE jobs SET "
    "status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' "
    "WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
    "error = CASE WHEN cancel_requested <> 0 THEN 'cancelled by request' ELSE ?3 END, "
    "finished_ms = CASE WHEN cancel_requested <> 0 OR attempts >= max_attempts THEN ?4 ELSE 0 END, "
    "lease_owner = CASE WHEN cancel_requested <> 0 OR attempts >= max_attempts THEN lease_owner ELSE '' END, "
    "updated_ms = ?4, lease_expires_ms = 0 "
    "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'";
const char* const kRelease =
    "UPDATE jobs SET "
    "status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'queued' END, "
    "error = CASE WHEN cancel_requested <> 0 THEN 'cancelled by request' ELSE error END, "
    "finished_ms = CASE WHEN cancel_requested <> 0 THEN ?3 ELSE 0 END, "
    "attempts = CASE WHEN cancel_requested <> 0 THEN attempts ELSE max(attempts - 1, 0) END, "
    "lease_owner = '', lease_expires_ms = 0, updated_ms = ?3 "
    "WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'";
const char* const kStatusOf = "SELECT status FROM jobs WHERE id = ?1";
const char* const kCancelQueued =
    "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, error = 'cancelled by request', "
    "finished_ms = ?2, updated_ms = ?2 WHERE id = ?1 AND status = 'queued'";
const char* const kCancelRunning =
    "UPDATE jobs SET cancel_requested = 1, updated_ms = ?2 WHERE id = ?1 AND status = 'running'";
const char* const kGet = "SELECT " FPP_JOB_COLUMNS " FROM jobs WHERE id = ?1";
const char* const kCancelFlag = "SELECT cancel_requested FROM jobs WHERE id = ?1";
const char* const kPurge =
    "DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND finished_ms <= ?1 "
    "RETURNING spool_dir";

// Every live store, so that a fork() in this process first closes their idle connections: a child
// must not inherit an open SQLite connection (SQLite keeps per-file lock state per process, and
// a WAL connection holds a shared lock for its whole life). Leaked on purpose: atfork handlers
// cannot be removed and may run during static destruction.
std::mutex& registry_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::set<SqliteJobStore*>& registry() {
  static auto* stores = new std::set<SqliteJobStore*>;
  return *stores;
}
void before_fork() noexcept {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (SqliteJobStore* s : registry()) s->close_connections();
}

thread_local bool t_priority = false;

}  // namespace

void set_job_store_priority(bool finishing_work) noexcept { t_priority = finishing_work; }
bool job_store_priority() noexcept { return t_priority; }

namespace {

// SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries; with Apache's children
// taking turns on the write lock for a few dozen microseconds each, that turns short waits into
// long ones. This one retries after 50 us, doubling to 2 ms, until busy_timeout_ms is spent.
int busy_backoff(void* timeout_ms, int count) noexcept {
  // Threads that finish jobs retry sooner than threads that submit them: under a flood of
  // submissions the lock then goes to completing work first, so the backlog does not grow
  // without bound (FlaskppJobQueueMax is the hard limit).
  constexpr long kMaxUs = 2000;
  const long first_us = job_store_priority() ? 20 : 100;
  long spent_us = 0, next_us = first_us;
  for (int i = 0; i < count; ++i) {
    spent_us += next_us;
    next_us = std::min(next_us * 2, kMaxUs);
  }
  if (spent_us >= *static_cast<const std::int64_t*>(timeout_ms) * 1000) return 0;  // give up: SQLITE_BUSY
  ::usleep(static_cast<useconds_t>(next_us));
  return 1;
}

}  // namespace

class SqliteJobStore::Connection {
 public:
  Connection(const std::string& path, const SqliteJobStoreOptions& options) : path_(path), pid_(::getpid()) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      throw JobStoreError(path_, "cannot open: " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    busy_timeout_ms_ = options.busy_timeout_ms;
    sqlite3_busy_handler(db_, busy_backoff, &busy_timeout_ms_);
    try {
      exec_script(options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
      // A burst grows the WAL while readers keep checkpoints from resetting it; afterwards it is
      // truncated back to this size instead of keeping its peak on disk.
      exec_script("PRAGMA journal_size_limit = 67108864");
    } catch (...) {
      sqlite3_close_v2(db_);
      throw;
    }
  }
  ~Connection() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  pid_t pid() const { return pid_; }
  sqlite3* db() const { return db_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw JobStoreError(path_, what + ": " + sqlite3_errmsg(db_));
  }

  // Prepared once per connection: the statements are few and run constantly.
  sqlite3_stmt* prepare(const char* sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      fail("cannot prepare statement");
    }
    stmts_.emplace(sql, stmt);
    return stmt;
  }

  // Unprepared multi-statement text (schema, pragmas).
  void exec_script(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw JobStoreError(path_, msg);
    }
  }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::int64_t busy_timeout_ms_ = 5000;  // read by busy_backoff
  pid_t pid_;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
};

namespace {

using Connection = SqliteJobStore::Connection;

// One execution of a cached statement; reset on scope exit so its read lock is released.
class Stmt {
 public:
  Stmt(Connection& c, const char* sql) : c_(c), s_(c.prepare(sql)) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  Stmt& bind(int i, double v) {
    check(sqlite3_bind_double(s_, i, v));
    return *this;
  }
  // True when a row is available; false when done.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    c_.fail("statement failed");
  }
  void run() {
    while (step()) {
    }
  }
  int changes() const { return sqlite3_changes(c_.db()); }

  std::int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  double real(int col) const { return sqlite3_column_double(s_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

  JobRecord record() const {
    JobRecord r;
    r.id = text(0);
    r.name = text(1);
    r.origin = text(2);
    r.status = parse_job_status(text(3)).value_or(JobStatus::kFailed);
    r.attempts = static_cast<int>(int64(4));
    r.max_attempts = static_cast<int>(int64(5));
    r.created_ms = int64(6);
    r.started_ms = int64(7);
    r.finished_ms = int64(8);
    r.updated_ms = int64(9);
    r.progress = real(10);
    r.progress_message = text(11);
    r.input_json = text(12);
    r.result_json = text(13);
    r.error = text(14);
    r.spool_dir = text(15);
    r.cancel_requested = int64(16) != 0;
    r.timeout_ms = int64(17);
    r.lease_owner = text(18);
    r.lease_expires_ms = int64(19);
    return r;
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) c_.fail("cannot bind parameter");
  }
  Connection& c_;
  sqlite3_stmt* s_;
};

// BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a transaction
// that reads and then writes cannot fail half-way with SQLITE_BUSY on a stale WAL snapshot.
class WriteTxn {
 public:
  explicit WriteTxn(Connection& c) : c_(c) { Stmt(c_, "BEGIN IMMEDIATE").run(); }
  ~WriteTxn() {
    if (!committed_) sqlite3_exec(c_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;
  void commit() {
    Stmt(c_, "COMMIT").run();
    committed_ = true;
  }

 private:
  Connection& c_;
  bool committed_ = false;
};

}  // namespace

// Borrows a connection for one store call and returns it to the pool.
class SqliteJobStore::Borrowed {
 public:
  explicit Borrowed(SqliteJobStore& s) : s_(s), c_(s.acquire()) {}
  ~Borrowed() { s_.give_back(c_); }
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  Connection& operator*() const { return *c_; }

 private:
  SqliteJobStore& s_;
  Connection* c_;
};

SqliteJobStore::SqliteJobStore(std::string path, SqliteJobStoreOptions options)
    : path_(std::move(path)), options_(options), pool_pid_(::getpid()) {
  Connection c(path_, options_);
  // journal_mode cannot change inside a transaction; WAL is a property of the file and persists.
  {
    Stmt mode(c, "PRAGMA journal_mode = WAL");
    mode.run();
  }
  WriteTxn txn(c);
  std::int64_t version = 0;
  {
    Stmt v(c, "PRAGMA user_version");
    if (v.step()) version = v.int64(0);
  }
  if (version > kSchemaVersion) {
    throw JobStoreError(path_, "schema version " + std::to_string(version) + " is newer than this module's (" +
                                   std::to_string(kSchemaVersion) + ")");
  }
  if (version < kSchemaVersion) {
    c.exec_script(kSchema);
    c.exec_script(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  }
  txn.commit();
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { pthread_atfork(before_fork, nullptr, nullptr); });
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(this);
}

SqliteJobStore::~SqliteJobStore() {
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    registry().erase(this);
  }
  close_connections();
}

void SqliteJobStore::close_connections() noexcept {
  std::vector<Connection*> idle;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    idle.swap(idle_);
    if (pool_pid_ != ::getpid()) {
      // Inherited from the parent: closing them here could checkpoint or unlock its file.
      pool_pid_ = ::getpid();
      return;
    }
  }
  for (Connection* c : idle) delete c;
}

SqliteJobStore::Connection* SqliteJobStore::acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_pid_ != ::getpid()) {
      idle_.clear();  // abandoned, see close_connections
      pool_pid_ = ::getpid();
    }
    if (!idle_.empty()) {
      Connection* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  return new Connection(path_, options_);
}

void SqliteJobStore::give_back(Connection* c) {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (c->pid() != ::getpid()) return;  // borrowed before a fork: abandon
    if (pool_pid_ != ::getpid()) {
      idle_.clear();
      pool_pid_ = ::getpid();
    }
    if (idle_.size() < options_.max_idle_connections) {
      idle_.push_back(c);
      return;
    }
  }
  delete c;  // beyond the idle cap: closed outside the lock
}

std::size_t SqliteJobStore::idle_connections() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return pool_pid_ == ::getpid() ? idle_.size() : 0;
}

bool SqliteJobStore::enqueue(const JobRecord& job, std::size_t queue_max) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  {
    Stmt count(c, kCountActive);
    if (count.step() && static_cast<std::size_t>(count.int64(0)) >= queue_max) return false;
  }
  Stmt(c, kInsert)
      .bind(1, job.id)
      .bind(2, job.name)
      .bind(3, job.origin)
      .bind(4, static_cast<std::int64_t>(job.max_attempts))
      .bind(5, job.created_ms)
      .bind(6, job.input_json)
      .bind(7, job.spool_dir)
      .bind(8, job.timeout_ms)
      .run();
  txn.commit();
  return true;
}

namespace {

// Inside a write transaction: expired leases back to queued (or failed, or cancelled), then the
// oldest queued job becomes running for `owner`.
std::optional<JobRecord> claim_in(SqliteJobStore::Connection& c, const std::string& owner, std::int64_t now_ms,
                                  std::int64_t lease_ms) {
  Stmt(c, kExpireCancelled).bind(1, now_ms).run();
  Stmt(c, kExpireExhausted).bind(1, now_ms).run();
  Stmt(c, kExpireRequeue).bind(1, now_ms).run();
  std::optional<JobRecord> out;
  Stmt s(c, kClaim);
  s.bind(1, now_ms).bind(2, owner).bind(3, now_ms + lease_ms);
  if (s.step()) out = s.record();
  while (s.step()) {
  }
  return out;
}

// Inside a write transaction: the terminal transition, while `owner` holds the lease.
bool finish_in(SqliteJobStore::Connection& c, const std::string& id, const std::string& owner, JobStatus status,
               const std::string& result_or_error, std::int64_t now_ms) {
  if (status == JobStatus::kDone) {
    Stmt s(c, kFinishDone);
    s.bind(1, id).bind(2, owner).bind(3, result_or_error).bind(4, now_ms).run();
    return s.changes() == 1;
  }
  Stmt s(c, kFinishError);
  s.bind(1, id).bind(2, owner).bind(3, result_or_error).bind(4, now_ms).bind(5, std::string(job_status_name(status))).run();
  return s.changes() == 1;
}

}  // namespace

std::optional<JobRecord> SqliteJobStore::claim(const std::string& owner, std::int64_t now_ms,
                                               std::int64_t lease_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  std::optional<JobRecord> out = claim_in(c, owner, now_ms, lease_ms);
  txn.commit();
  return out;
}

JobStore::FinishAndClaim SqliteJobStore::finish_and_claim(const std::string& id, const std::string& owner,
                                                          JobStatus status, const std::string& result_or_error,
                                                          std::int64_t now_ms, std::int64_t lease_ms) {
  FinishAndClaim out;
  if (!is_terminal(status)) return out;
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  out.kept = finish_in(c, id, owner, status, result_or_error, now_ms);
  out.next = claim_in(c, owner, now_ms, lease_ms);
  txn.commit();
  return out;
}

bool SqliteJobStore::renew(const std::string& id, const std::string& owner, std::int64_t now_ms,
                           std::int64_t lease_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  Stmt s(c, kRenew);
  s.bind(1, id).bind(2, owner).bind(3, now_ms + lease_ms).bind(4, now_ms).run();
  bool ok = s.changes() == 1;
  txn.commit();
  return ok;
}

void SqliteJobStore::progress(const std::string& id, const std::string& owner, double fraction,
                              const std::string& message, std::int64_t now_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  Stmt(c, kProgress).bind(1, id).bind(2, owner).bind(3, fraction).bind(4, message).bind(5, now_ms).run();
  txn.commit();
}

bool SqliteJobStore::finish(const std::string& id, const std::string& owner, JobStatus status,
                            const std::string& result_or_error, std::int64_t now_ms) {
  if (!is_terminal(status)) return false;
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  bool ok = finish_in(c, id, owner, status, result_or_error, now_ms);
  txn.commit();
  return ok;
}

bool SqliteJobStore::retry(const std::string& id, const std::string& owner, const std::string& error,
                           std::int64_t now_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  Stmt s(c, kRetry);
  s.bind(1, id).bind(2, owner).bind(3, error).bind(4, now_ms).run();
  bool ok = s.changes() == 1;
  txn.commit();
  return ok;
}

bool SqliteJobStore::release(const std::string& id, const std::string& owner, std::int64_t now_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  Stmt s(c, kRelease);
  s.bind(1, id).bind(2, owner).bind(3, now_ms).run();
  bool ok = s.changes() == 1;
  txn.commit();
  return ok;
}

JobStore::CancelResult SqliteJobStore::cancel(const std::string& id, std::int64_t now_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  std::optional<JobStatus> status;
  {
    Stmt s(c, kStatusOf);
    s.bind(1, id);
    if (s.step()) status = parse_job_status(s.text(0));
  }
  CancelResult result;
  if (!status) {
    result = CancelResult::kNotFound;
  } else if (*status == JobStatus::kQueued) {
    Stmt(c, kCancelQueued).bind(1, id).bind(2, now_ms).run();
    result = CancelResult::kCancelled;
  } else if (*status == JobStatus::kRunning) {
    Stmt(c, kCancelRunning).bind(1, id).bind(2, now_ms).run();
    result = CancelResult::kRequested;
  } else {
    result = CancelResult::kAlreadyFinished;
  }
  txn.commit();
  return result;
}

std::optional<JobRecord> SqliteJobStore::get(const std::string& id) {
  Borrowed conn(*this);
  Stmt s(*conn, kGet);
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return s.record();
}

bool SqliteJobStore::cancel_requested(const std::string& id) {
  Borrowed conn(*this);
  Stmt s(*conn, kCancelFlag);
  s.bind(1, id);
  return s.step() && s.int64(0) != 0;
}

std::vector<std::string> SqliteJobStore::purge_finished(std::int64_t now_ms, std::int64_t retention_ms) {
  Borrowed conn(*this);
  Connection& c = *conn;
  WriteTxn txn(c);
  std::vector<std::string> dirs;
  {
    Stmt s(c, kPurge);
    s.bind(1, now_ms - retention_ms);
    while (s.step()) {
      std::string d = s.text(0);
      if (!d.empty()) dirs.push_back(std::move(d));
    }
  }
  txn.commit();
  return dirs;
}

std::size_t SqliteJobStore::count_active() {
  Borrowed conn(*this);
  Stmt s(*conn, kCountActive);
  return s.step() ? static_cast<std::size_t>(s.int64(0)) : 0;
}

}  // namespace flaskpp::core
