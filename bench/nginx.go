package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// nginxBinary is Debian's nginx-light.
const nginxBinary = "/usr/sbin/nginx"

// nginxConfig is nginx set up to do clipbridge's core job, the way a user
// would deploy it instead: check the bridge token, set the real
// Authorization and X-Paperclip-Run-Id, keep upstream connections alive,
// log each request. Choices that affect the comparison, each documented
// in BENCHMARKS.md:
//   - one worker per core (worker_processes auto), like GOMAXPROCS;
//   - the access log is buffered (32 KiB, flushed every 100 ms), the same
//     batching clipbridge applies to its own access log;
//   - keepalive_requests raised on both sides, because clipbridge does not
//     recycle connections after 1,000 requests and the load should
//     measure forwarding, not reconnecting;
//   - request bodies stream to upstream and responses never spill to temp
//     files, as clipbridge streams (nginx's defaults write large bodies
//     to disk);
//   - no route allowlist or header allowlist: nginx passes every path and
//     header, so it does strictly less work than clipbridge.
const nginxConfig = `
daemon off;
master_process on;
worker_processes auto;
pid {{dir}}/nginx.pid;
error_log {{dir}}/nginx-error.log warn;
{{user}}
events { worker_connections 4096; }
http {
  log_format bridge escape=json '{"time":"$time_iso8601","msg":"request","method":"$request_method","path":"$uri","status":$status,"duration":$request_time,"bytes":$body_bytes_sent}';
  access_log {{dir}}/nginx-access.log bridge buffer=32k flush=100ms;
  client_body_temp_path {{dir}}/nginx-body;
  proxy_temp_path {{dir}}/nginx-proxy;
  fastcgi_temp_path {{dir}}/nginx-fastcgi;
  uwsgi_temp_path {{dir}}/nginx-uwsgi;
  scgi_temp_path {{dir}}/nginx-scgi;
  default_type application/json;
  client_max_body_size 10551296;
  keepalive_requests 1000000;
  proxy_request_buffering off;
  proxy_max_temp_file_size 0;
  map $http_authorization $bridge_ok {
    default 0;
    "Bearer {{bridge}}" 1;
  }
  upstream paperclip {
    server {{upstream}};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:{{port}};
    location / {
      if ($bridge_ok = 0) { return 401 '{"error":"Invalid bridge token."}'; }
      proxy_pass http://paperclip;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer {{run}}";
      proxy_set_header X-Paperclip-Run-Id "{{runid}}";
    }
  }
}
`

// renderNginxConfig fills in nginxConfig.
func renderNginxConfig(dir, upstream string, port int, s secrets) string {
	user := ""
	if os.Geteuid() == 0 {
		// Workers would otherwise switch to nobody and lose access to the
		// private temporary directory.
		user = "user root;"
	}
	return strings.NewReplacer("{{dir}}", dir, "{{user}}", user, "{{bridge}}", s.bridgeToken,
		"{{upstream}}", upstream, "{{port}}", strconv.Itoa(port), "{{run}}", s.runToken,
		"{{runid}}", s.runID).Replace(nginxConfig)
}

// startNginx writes the configuration into dir and runs nginx in the
// foreground.
func startNginx(dir, upstream string, s secrets) (*target, error) {
	if _, err := os.Stat(nginxBinary); err != nil {
		return nil, fmt.Errorf("nginx not found (apt-get install nginx-light): %w", err)
	}
	port, err := testsupport.LoopbackPort()
	if err != nil {
		return nil, err
	}
	conf := renderNginxConfig(dir, upstream, port, s)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(nginxBinary, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "nginx-error.log"))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// SIGTERM is nginx's fast shutdown.
	stop, exited := reap(cmd, 10*time.Second)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitListening(addr, 10*time.Second, exited); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
		return nil, fmt.Errorf("nginx: %w: %s", err, log)
	}
	return &target{
		name: "nginx", base: "http://" + addr, auth: "Bearer " + s.bridgeToken,
		proc: tree(cmd.Process.Pid), startup: time.Since(start), stop: stop,
	}, nil
}
