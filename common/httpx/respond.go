// Package httpx holds the request and response plumbing every handler shares:
// strict JSON decoding, validation, JSON answers and the one place where an
// error becomes the common error body.
package httpx

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/mongox"
)

// HandlerFunc is an http.HandlerFunc that may fail. Returning an error hands
// it to WriteError, so a handler never formats an error body itself.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts a HandlerFunc to net/http.
func Handle(fn HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(w, r, err)
		}
	}
}

// WriteJSON answers status with v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The status line is gone already; all that is left is to say so.
		slog.Warn("writing response body", "err", err)
	}
}

// WriteError turns any error into the common error body. A CustomError speaks
// for itself; a database outage (mongox.IsUnavailable) answers 503, in every
// service, without each one mapping it; anything else is logged with its
// detail and answered with a generic 500, so internals never reach the client.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var custom errs.CustomError
	if !errors.As(err, &custom) && mongox.IsUnavailable(err) {
		err = errs.DatabaseConnection(err)
	}
	if errors.As(err, &custom) {
		if custom.StatusCode() >= http.StatusInternalServerError {
			LoggerFrom(r.Context()).Error("request failed", "status", custom.StatusCode(), "err", err)
		}
		WriteJSON(w, custom.StatusCode(), errs.Body{Errors: custom.SerializeErrors()})
		return
	}
	LoggerFrom(r.Context()).Error("internal error", "err", err)
	WriteJSON(w, http.StatusInternalServerError, errs.Body{Errors: []errs.Item{{Message: "Something went wrong"}}})
}

// NotFoundHandler answers unknown routes in the common body.
func NotFoundHandler(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, errs.NotFound("Route not found"))
}

// MethodNotAllowedHandler answers a known route with the wrong method.
func MethodNotAllowedHandler(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, errs.MethodNotAllowed())
}
