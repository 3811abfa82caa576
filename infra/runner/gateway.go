package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// route sends a path prefix to a local port: the same routes as the ingress
// (infra/k8s), so what works here works in the cluster.
type route struct {
	Prefix string
	Port   int
}

// newGateway returns a reverse proxy over routes. The longest matching prefix
// wins; "/" catches the rest (the client). With no "/" route, other paths get a
// 404 in the API's common error body.
func newGateway(routes []route, errorLog *log.Logger) http.Handler {
	mux := http.NewServeMux()
	hasRoot := false
	// The default transport keeps 2 idle connections per service: under load
	// every further request opened (and closed) a connection of its own,
	// thousands a second, leaving sockets in TIME_WAIT and spending the CPU
	// the services need (3,350 sockets in TIME_WAIT after 10 s of 16 clients).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 0
	transport.MaxIdleConnsPerHost = maxIdlePerService
	// Without a pool, every response is copied through a fresh 32 KiB buffer.
	buffers := &bufferPool{}
	for _, r := range routes {
		target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", r.Port)}
		proxy := &httputil.ReverseProxy{
			Transport:  transport,
			BufferPool: buffers,
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				// Keep the Host the browser used, as ingress-nginx does, and
				// append the client's address to X-Forwarded-For.
				pr.Out.Host = pr.In.Host
				pr.SetXForwarded()
			},
			ErrorLog: errorLog,
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				writeError(w, http.StatusBadGateway, "The service behind "+r.Prefix+" is not answering; it may be restarting")
			},
		}
		if r.Prefix == "/" {
			hasRoot = true
			mux.Handle("/", proxy)
			continue
		}
		prefix := strings.TrimSuffix(r.Prefix, "/")
		mux.Handle(prefix, proxy)
		mux.Handle(prefix+"/", proxy)
	}
	if !hasRoot {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "Route not found (the web client is not running; the API is under /api)")
		})
	}
	return mux
}

// bufferPool recycles the buffers responses are copied through.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// maxIdlePerService bounds the idle connections the gateway keeps to each
// service.
const maxIdlePerService = 128

func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": message}}})
}
