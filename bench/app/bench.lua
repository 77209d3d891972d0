-- mod_lua baseline (LuaScope thread): the JSON route's bytes.
function handle(r)
  r.content_type = "application/json"
  r:puts('{"status":"ok"}\n')
  return apache2.OK
end
