package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// The gateway is nginx, as the ingress in Kubernetes is (ingress-nginx), with
// exactly the ingress's routes and its defaults where they matter: the same
// proxy in front of the same services, locally and in the cluster. A gateway
// written in Go (httputil.ReverseProxy) served before it; on a two-CPU machine
// it spent 0.17-0.20 ms of CPU per request against nginx's 0.07, a fifth of
// what a lookup by id costs the database (docs/benchmarks.md).

// route sends a path prefix to a local port. A prefix matches itself and what
// lies below it ("/api/users" and "/api/users/signup", not "/api/usersX"), as
// the ingress's pathType Prefix does; "/" catches the rest (the client).
type route struct {
	// Name is the service's, and names its nginx upstream.
	Name   string
	Prefix string
	Port   int
}

// gateway is what the nginx configuration is made from.
type gateway struct {
	// Host and Port are where it listens for people.
	Host string
	Port int
	// Dir holds the configuration, nginx's pid file and its temporary files.
	Dir    string
	Routes []gatewayRoute
	// HasRoot says a route takes "/"; without one, other paths get the API's 404.
	HasRoot bool
}

type gatewayRoute struct {
	route
	// Exact is the prefix without a trailing slash, matched exactly; Below
	// is it with one, matched as a prefix.
	Exact, Below string
	// Browse is set on the tickets route: its public reads are micro-cached.
	Browse bool
}

// browsePrefix is the route whose public reads (the list for sale and one
// ticket) the gateway micro-caches; browseOne matches one ticket's path and
// no other below it (not /mine, which is a seller's own).
const (
	browsePrefix = "/api/tickets"
	browseOne    = `^/api/tickets/(?!mine$)[^/]+$`
)

func newGatewayConfig(host string, port int, dir string, routes []route) gateway {
	g := gateway{Host: host, Port: port, Dir: dir}
	for _, r := range routes {
		if r.Prefix == "/" {
			g.HasRoot = true
		}
		exact := strings.TrimSuffix(r.Prefix, "/")
		g.Routes = append(g.Routes, gatewayRoute{route: r, Exact: exact, Below: exact + "/", Browse: exact == browsePrefix})
	}
	return g
}

// withoutCache is g with no micro-cache: every read reaches its service
// (GATEWAY_CACHE=off, for benchmarks of the uncached path).
func (g gateway) withoutCache() gateway {
	routes := slices.Clone(g.Routes)
	for i := range routes {
		routes[i].Browse = false
	}
	g.Routes = routes
	return g
}

// Listen is nginx's listen address.
func (g gateway) Listen() string { return net.JoinHostPort(g.Host, strconv.Itoa(g.Port)) }

// BrowseOne is the pattern of one ticket's path, for the template.
func (g gateway) BrowseOne() string { return browseOne }

// CacheDir is where nginx keeps the micro-cache's bodies: in the system's
// temporary folder, not in Dir, because nginx started as root writes them as
// nobody, who may not reach the data folder (and a cache nginx cannot write
// answers 500, not a miss). One folder per Dir, made afresh at each start,
// which others may pass through but not list; nginx makes its own inside,
// readable by its worker only. What it holds is public.
func (g gateway) CacheDir() string {
	sum := sha256.Sum256([]byte(g.Dir))
	return filepath.Join(os.TempDir(), "ticketing-gateway-"+hex.EncodeToString(sum[:6]))
}

// write renders the configuration into Dir and returns its path.
func (g gateway) write() (string, error) {
	if err := os.MkdirAll(filepath.Join(g.Dir, "temp"), 0o755); err != nil {
		return "", err
	}
	if err := os.RemoveAll(g.CacheDir()); err != nil {
		return "", err
	}
	if err := os.Mkdir(g.CacheDir(), 0o711); err != nil {
		return "", err
	}
	// Mkdir's mode passes through the umask; others must be able to pass.
	if err := os.Chmod(g.CacheDir(), 0o711); err != nil {
		return "", err
	}
	var b strings.Builder
	if err := nginxConf.Execute(&b, g); err != nil {
		return "", err
	}
	path := filepath.Join(g.Dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// spec runs nginx in the foreground on the configuration at conf; its errors
// go to stderr from the first line (-e), before it has read the file.
func (g gateway) spec(nginxPath, conf string) spec {
	return spec{Name: "gateway", Path: nginxPath, Host: dialHost(g.Host), Port: g.Port,
		Args: []string{"-e", "stderr", "-p", g.Dir, "-c", conf}}
}

// nginxConf follows ingress-nginx's defaults where a client could tell the
// difference: the Host the browser sent is kept, X-Forwarded-* are set, bodies
// up to 1 MiB pass (services refuse above 64 KiB in the common error body),
// responses are streamed, not buffered (so nginx writes no temporary files),
// connections to the services are kept and reused (closed before the
// services' 120 s idle timeout would), upstream connect timeout 5 s, read and
// send 60 s. What nginx itself answers (a
// service down or slow, a body over the limit, no client) is in the API's
// common error body.
var nginxConf = template.Must(template.Must(template.New("nginx.conf").Parse(browseConf)).Parse(`# Written by the runner at every start (infra/runner/gateway.go); edits are lost.
worker_processes 1;
daemon off;
pid {{.Dir}}/nginx.pid;
error_log stderr warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    server_tokens off;
    client_body_temp_path {{.Dir}}/temp/body;
    proxy_temp_path {{.Dir}}/temp/proxy;
    fastcgi_temp_path {{.Dir}}/temp/fastcgi;
    uwsgi_temp_path {{.Dir}}/temp/uwsgi;
    scgi_temp_path {{.Dir}}/temp/scgi;

    client_max_body_size 1m;
    # Bodies are held in memory, never in a temporary file: run as root, nginx
    # runs its worker as nobody, who may not reach the data folder.
    client_body_buffer_size 1m;
    proxy_http_version 1.1;
    proxy_buffering off;
    proxy_connect_timeout 5s;
    proxy_read_timeout 60s;
    proxy_send_timeout 60s;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Proto $scheme;

    # The micro-cache of the public reads (docs/benchmarks.md, "Browsing"):
    # keys in shared memory, bodies in {{.CacheDir}}. Only an answer the
    # service calls public is kept (what a session sees is no-store, and
    # nginx never keeps an answer that sets a cookie), for one second.
    proxy_cache_path {{.CacheDir}}/browse levels=1:2 keys_zone=browse:1m max_size=32m inactive=10s use_temp_path=off;
    map $upstream_http_cache_control $browse_not_public {
        ~*no-store 1;
        ~*private 1;
        ~*(^|[,\s])public([,\s]|$) 0;
        default 1;
    }
    # What the gateway answers from its copy claims no freshness of its own:
    # the copy may be a second older than the service said, so a browser
    # asks again each time (and gets a 304 from the gateway while its copy
    # lasts).
    map $upstream_cache_status $browse_cache_control {
        HIT "public, no-cache";
        STALE "public, no-cache";
        UPDATING "public, no-cache";
        REVALIDATED "public, no-cache";
        default $upstream_http_cache_control;
    }
{{range .Routes}}
    upstream {{.Name}} {
        server 127.0.0.1:{{.Port}};
        keepalive 64;
        keepalive_timeout 60s;
    }
{{end}}
    server {
        listen {{.Listen}};

        error_page 413 = @too_large;
        error_page 502 = @unavailable;
        error_page 504 = @timeout;

        # A service's /metrics is for the scraper inside the system, never for
        # a browser (docs/observability.md): refused whatever route is below /.
        location = /metrics {
            default_type application/json;
            return 404 '{"errors":[{"message":"Route not found"}]}\n';
        }
{{range .Routes}}{{if eq .Prefix "/"}}
        location / {
            set $route "/";
            proxy_pass http://{{.Name}};
        }
{{else if .Browse}}
        location = {{.Exact}} {
            set $route "{{.Exact}}";
            {{template "browse"}}
            proxy_pass http://{{.Name}};
        }

        location ~ {{$.BrowseOne}} {
            set $route "{{.Exact}}";
            {{template "browse"}}
            proxy_pass http://{{.Name}};
        }

        location {{.Below}} {
            set $route "{{.Exact}}";
            proxy_pass http://{{.Name}};
        }
{{else}}
        location = {{.Exact}} {
            set $route "{{.Exact}}";
            proxy_pass http://{{.Name}};
        }

        location {{.Below}} {
            set $route "{{.Exact}}";
            proxy_pass http://{{.Name}};
        }
{{end}}{{end}}{{if not .HasRoot}}
        location / {
            default_type application/json;
            return 404 '{"errors":[{"message":"Route not found (the web client is not running; the API is under /api)"}]}\n';
        }
{{end}}
        location @too_large {
            default_type application/json;
            return 413 '{"errors":[{"message":"Request body too large"}]}\n';
        }

        location @unavailable {
            default_type application/json;
            return 502 '{"errors":[{"message":"The service behind $route is not answering; it may be restarting"}]}\n';
        }

        location @timeout {
            default_type application/json;
            return 504 '{"errors":[{"message":"The service behind $route took too long to answer"}]}\n';
        }
    }
}
`))

// browseConf is what a micro-cached read adds to its location: one key per
// URL (query included, cookies never), a second's validity, one request to
// the service for everyone who asks at once (proxy_cache_lock), a fresh
// answer for whoever has a session (their copy refreshes the cache: a seller
// sees their own edit, from the service that stored it), buffering
// in memory (nginx caches only what it buffers), and X-Cache-Status saying
// where the answer came from. The service's own max-age is not what sets the
// validity: a second it is, whatever the service says, and the service's
// Cache-Control decides only whether the answer is kept at all.
const browseConf = `{{define "browse"}}proxy_cache browse;
            proxy_cache_key $scheme$http_host$request_uri;
            proxy_cache_methods GET HEAD;
            proxy_cache_valid 200 1s;
            proxy_ignore_headers Cache-Control Expires X-Accel-Expires;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 2s;
            proxy_cache_bypass $cookie_session;
            proxy_no_cache $browse_not_public;
            proxy_buffering on;
            proxy_buffer_size 16k;
            proxy_buffers 32 16k;
            proxy_max_temp_file_size 0;
            proxy_hide_header Cache-Control;
            add_header Cache-Control $browse_cache_control always;
            add_header X-Cache-Status $upstream_cache_status always;{{end}}`
