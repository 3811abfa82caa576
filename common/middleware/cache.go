package middleware

import (
	"net/http"

	"ticketing.dev/common/httpx"
)

// CacheControl makes `Cache-Control: no-store` the answer of every route:
// what a session sees is that user's, and no shared cache, nor the browser's
// back button after signout, may keep it. A public read that is the same for
// everyone says otherwise itself (httpx.WriteSnapshot), and only such a read
// may: an answer that sets a cookie is no-store whatever its handler said,
// since a cache that kept it would hand one visitor's session to the next.
func CacheControl(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", httpx.NoStore)
		next.ServeHTTP(&cookieGuard{ResponseWriter: w}, r)
	})
}

// cookieGuard turns the answer no-store if it sets a cookie, at the moment
// its header goes out.
type cookieGuard struct {
	http.ResponseWriter
	wrote bool
}

func (g *cookieGuard) WriteHeader(status int) {
	if !g.wrote {
		g.wrote = true
		if h := g.Header(); len(h.Values("Set-Cookie")) > 0 {
			h.Set("Cache-Control", httpx.NoStore)
		}
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *cookieGuard) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (g *cookieGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }
