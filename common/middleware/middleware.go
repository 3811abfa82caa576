// Package middleware holds the chi middleware every service mounts, in the order
// Standard returns them.
package middleware

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/session"
	"ticketing.dev/common/tracing"
)

// DefaultBodyLimit is the largest request body a JSON API accepts.
const DefaultBodyLimit = 64 << 10

// Standard returns the middleware chain shared by every service: request id,
// request-scoped structured logging, panic recovery, security headers, body
// limit, the cross-site request checks and current user.
func Standard(logger *slog.Logger, sessions *session.Manager, browsers Browsers) []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{
		chimw.RequestID,
		Logger(logger),
		Recoverer,
		SecurityHeaders,
		CacheControl,
		BodyLimit(DefaultBodyLimit),
		RefuseCrossSite(browsers),
		CurrentUser(sessions),
	}
}

// SecurityHeaders marks every response as what its Content-Type says, so no
// browser sniffs an error body or a user's listing title into HTML or script.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// Logger logs one line per request and stores a logger carrying the request id
// in the context for handlers (httpx.LoggerFrom).
func Logger(base *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			l := base.With("request_id", chimw.GetReqID(r.Context()))
			ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
			// The handler's lines name the request's trace; the request's
			// own line gets it from the context (tracing.LogHandler).
			traced := l.With(tracing.LogAttrs(r.Context())...)
			next.ServeHTTP(ww, r.WithContext(httpx.WithLogger(r.Context(), traced)))
			took := time.Since(start)
			l.Log(r.Context(), requestLevel(ww.Status(), took), "request",
				"method", r.Method, "path", r.URL.Path, "status", ww.Status(),
				"bytes", ww.BytesWritten(), "duration", took)
		})
	}
}

// SlowRequest is how long a request may take before its log line is a warning.
const SlowRequest = time.Second

// requestLevel decides what a request's log line is worth. Failures and slow
// requests are what an operator looks for; a fast success is a debug line,
// because the ingress (or the local gateway) keeps the access log, and at a
// few thousand requests a second the line costs more CPU than the request.
func requestLevel(status int, took time.Duration) slog.Level {
	switch {
	case status >= http.StatusInternalServerError:
		return slog.LevelError
	case took >= SlowRequest:
		return slog.LevelWarn
	case status >= http.StatusBadRequest:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// Recoverer turns a panic into a logged 500 in the common body. It re-panics
// http.ErrAbortHandler, which net/http uses to abort a response on purpose.
func Recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			httpx.LoggerFrom(r.Context()).Error("panic", "panic", rec, "stack", string(debug.Stack()))
			httpx.WriteError(w, r, fmt.Errorf("panic: %v", rec))
		}()
		next.ServeHTTP(w, r)
	})
}

// BodyLimit caps request bodies; httpx.DecodeJSON turns the overflow into 413.
func BodyLimit(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				httpx.WriteError(w, r, errs.PayloadTooLarge())
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r)
		})
	}
}

// CurrentUser puts the session's user, if any, in the request context. An
// invalid or expired cookie is the same as none: it is not an error here.
func CurrentUser(sessions *session.Manager) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, ok := sessions.FromRequest(r); ok {
				r = r.WithContext(session.WithUser(r.Context(), u))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireAuth answers 401 unless CurrentUser found a valid session.
func RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := session.UserFrom(r.Context()); !ok {
			httpx.WriteError(w, r, errs.NotAuthorized())
			return
		}
		next.ServeHTTP(w, r)
	})
}
