package middleware

import (
	"mime"
	"net/http"
	"slices"
	"strings"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
)

// Browsers says which pages may make unsafe requests: a session cookie is
// SameSite=Lax, which keeps it off cross-site POSTs but not off requests from
// a sibling host (any *.ticketing.dev, any other localhost port), and a
// fetch with an ArrayBuffer body and no Content-Type needs no preflight. So
// the API itself refuses what only another page would send.
type Browsers struct {
	// PublicOrigins are the origins allowed to make unsafe requests
	// (config.Common.PublicOrigins), lower-case, as browsers send them.
	PublicOrigins []string
	// Exempt are routes, "METHOD /path", that authenticate the request
	// themselves and are called by servers, not browsers: Stripe's signed
	// webhook. They skip both the origin and the content-type checks.
	Exempt []string
}

// RefuseCrossSite answers an unsafe request with 403 when a browser says it
// comes from another site (Sec-Fetch-Site cross-site or same-site) or from an
// origin outside PublicOrigins, and a body that is not declared JSON with 415
// — also when no Content-Type is declared at all, which is what a no-preflight
// fetch or a form sends. Requests without these headers (curl, the client's
// server side, other services) come from no browser and pass.
func RefuseCrossSite(b Browsers) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if safeMethod(r.Method) || slices.Contains(b.Exempt, r.Method+" "+r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			switch r.Header.Get("Sec-Fetch-Site") {
			case "cross-site", "same-site":
				httpx.WriteError(w, r, errs.Forbidden("Cross-site requests are not allowed"))
				return
			}
			if origin, sent := r.Header["Origin"]; sent && !slices.Contains(b.PublicOrigins, strings.ToLower(strings.Join(origin, ","))) {
				httpx.WriteError(w, r, errs.Forbidden("Requests from this origin are not allowed"))
				return
			}
			if hasBody(r) && !declaredJSON(r) {
				httpx.WriteError(w, r, errs.UnsupportedMediaType())
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// hasBody: a declared length above zero, or a body of unknown length
// (chunked). net/http sets ContentLength to -1 only then.
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

func declaredJSON(r *http.Request) bool {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mediaType == "application/json"
}
