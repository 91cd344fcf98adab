// Preload for Flowise in queue mode (NODE_OPTIONS="--require <this file>"): let processes that
// share one SQLite file wait for each other's writes instead of failing.
//
// In queue mode the main server and its workers are separate processes on one SQLite file.
// Flowise opens it through TypeORM without a busy timeout, so a write that meets another
// process's write lock fails at once with SQLITE_BUSY ("database is locked") and the run ends
// in an error event; a burst of concurrent runs over two workers hits that within a few bursts.
// TypeORM's own `busyTimeout` option does this, but Flowise's DataSource does not set it. This
// file wraps the `sqlite3` module's Database class so that each new connection is configured
// with FLOWISE_ASYNC_SQLITE_BUSY_MS milliseconds (default 15000) before its first statement.
//
// A busy timeout alone is not enough: TypeORM opens its transactions with a plain (deferred)
// "BEGIN TRANSACTION", reads, then writes. When another process committed in between, SQLite
// cannot upgrade the read to a write and answers SQLITE_BUSY at once, without waiting (in WAL
// mode, SQLITE_BUSY_SNAPSHOT). So the wrapper also starts those transactions as
// "BEGIN IMMEDIATE TRANSACTION": the write lock is taken, waiting up to the timeout, before the
// first read, and transactions from different processes run one after the other.
// Production queue deployments use Postgres; this only makes the shared-file test set-up sound.
"use strict";

const Module = require("node:module");

const timeout = Number.parseInt(process.env.FLOWISE_ASYNC_SQLITE_BUSY_MS || "15000", 10);
const realLoad = Module._load;
const patched = new WeakSet();

const DEFERRED_BEGIN = /^\s*BEGIN(\s+DEFERRED)?(\s+TRANSACTION)?\s*;?\s*$/i;

function immediate(sql) {
  return typeof sql === "string" && DEFERRED_BEGIN.test(sql) ? "BEGIN IMMEDIATE TRANSACTION" : sql;
}

function withBusyTimeout(sqlite3) {
  if (!sqlite3 || typeof sqlite3.Database !== "function" || patched.has(sqlite3)) return sqlite3;
  const Base = sqlite3.Database;
  class Database extends Base {
    constructor(...args) {
      super(...args);
      // node-sqlite3 queues this behind the open, ahead of any statement.
      this.configure("busyTimeout", timeout);
    }

    all(sql, ...rest) {
      return super.all(immediate(sql), ...rest);
    }

    run(sql, ...rest) {
      return super.run(immediate(sql), ...rest);
    }

    exec(sql, ...rest) {
      return super.exec(immediate(sql), ...rest);
    }
  }
  sqlite3.Database = Database;
  patched.add(sqlite3);
  return sqlite3;
}

if (Number.isFinite(timeout) && timeout > 0) {
  Module._load = function load(request, parent, isMain) {
    const exported = realLoad.apply(this, arguments);
    if (request === "sqlite3") return withBusyTimeout(exported);
    return exported;
  };
}
