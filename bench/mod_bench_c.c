/* The ceiling for any Apache module: a minimal C content handler that answers the bytes of one
 * file, read at startup. `SetHandler bench_c` plus `BenchCBody FILE` and `BenchCType TYPE`. */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_file_io.h"

typedef struct {
  const char *body;
  apr_size_t len;
  const char *type;
} bench_cfg;

module AP_MODULE_DECLARE_DATA bench_c_module;

static void *create_cfg(apr_pool_t *p, server_rec *s) {
  (void)s;
  bench_cfg *c = apr_pcalloc(p, sizeof *c);
  c->type = "application/json";
  return c;
}

static const char *set_body(cmd_parms *cmd, void *d, const char *path) {
  (void)d;
  bench_cfg *c = ap_get_module_config(cmd->server->module_config, &bench_c_module);
  apr_file_t *f;
  apr_finfo_t fi;
  if (apr_file_open(&f, path, APR_READ, 0, cmd->pool) != APR_SUCCESS) return "BenchCBody: cannot open file";
  apr_file_info_get(&fi, APR_FINFO_SIZE, f);
  char *buf = apr_palloc(cmd->pool, (apr_size_t)fi.size + 1);
  apr_size_t n = (apr_size_t)fi.size;
  apr_file_read_full(f, buf, n, &c->len);
  apr_file_close(f);
  c->body = buf;
  return NULL;
}

static const char *set_type(cmd_parms *cmd, void *d, const char *type) {
  (void)d;
  bench_cfg *c = ap_get_module_config(cmd->server->module_config, &bench_c_module);
  c->type = type;
  return NULL;
}

static int bench_handler(request_rec *r) {
  if (!r->handler || strcmp(r->handler, "bench_c")) return DECLINED;
  bench_cfg *c = ap_get_module_config(r->server->module_config, &bench_c_module);
  ap_set_content_type(r, c->type);
  ap_set_content_length(r, (apr_off_t)c->len);
  if (!r->header_only) ap_rwrite(c->body, (int)c->len, r);
  return OK;
}

static void register_hooks(apr_pool_t *p) {
  (void)p;
  ap_hook_handler(bench_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

static const command_rec cmds[] = {
  AP_INIT_TAKE1("BenchCBody", set_body, NULL, RSRC_CONF, "file whose bytes are the answer"),
  AP_INIT_TAKE1("BenchCType", set_type, NULL, RSRC_CONF, "content type of the answer"),
  {NULL}
};

module AP_MODULE_DECLARE_DATA bench_c_module = {
  STANDARD20_MODULE_STUFF, NULL, NULL, create_cfg, NULL, cmds, register_hooks
};
