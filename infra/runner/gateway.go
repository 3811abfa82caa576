package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
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
	for _, r := range routes {
		target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", r.Port)}
		proxy := &httputil.ReverseProxy{
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

func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": message}}})
}
