// Package errs holds the error types every service answers with. Each one knows
// its HTTP status and how it serialises into the common error body:
//
//	{"errors": [{"message": "...", "field": "optional"}]}
//
// Anything that is not a CustomError is an internal error: it answers 500 with a
// generic message, and its detail goes only to the log (see httpx.WriteError).
package errs

import (
	"net/http"
	"strings"
)

// Item is one entry of the common error body.
type Item struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Body is the common error body.
type Body struct {
	Errors []Item `json:"errors"`
}

// CustomError is the contract every client-facing error fulfils.
type CustomError interface {
	error
	StatusCode() int
	SerializeErrors() []Item
}

// FieldError is one failed rule on one request field.
type FieldError struct {
	Field   string
	Message string
}

// RequestValidationError reports one or more invalid request fields (400).
type RequestValidationError struct {
	Fields []FieldError
}

// Validation builds a RequestValidationError for a single field.
func Validation(field, message string) *RequestValidationError {
	return &RequestValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}

func (e *RequestValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

func (e *RequestValidationError) StatusCode() int { return http.StatusBadRequest }

func (e *RequestValidationError) SerializeErrors() []Item {
	items := make([]Item, len(e.Fields))
	for i, f := range e.Fields {
		items[i] = Item{Message: f.Message, Field: f.Field}
	}
	return items
}

// statusError is the shape shared by the single-message errors below.
type statusError struct {
	status  int
	message string
}

func (e *statusError) Error() string   { return e.message }
func (e *statusError) StatusCode() int { return e.status }
func (e *statusError) SerializeErrors() []Item {
	return []Item{{Message: e.message}}
}

// Each constructor below names the situation, not the status code, so that a
// handler reads as the contract in DESIGN.md §2.

// BadRequestError: the request is understood but cannot be honoured (400).
type BadRequestError struct{ statusError }

func BadRequest(message string) *BadRequestError {
	return &BadRequestError{statusError{http.StatusBadRequest, message}}
}

// NotAuthorizedError: no valid session (401).
type NotAuthorizedError struct{ statusError }

func NotAuthorized() *NotAuthorizedError {
	return &NotAuthorizedError{statusError{http.StatusUnauthorized, "Not authorized"}}
}

// InvalidCredentialsError: signin failed (401). One message for unknown email
// and wrong password, so the answer does not reveal which accounts exist.
func InvalidCredentials() *NotAuthorizedError {
	return &NotAuthorizedError{statusError{http.StatusUnauthorized, "Invalid credentials"}}
}

// PaymentRequiredError: the card was declined (402).
type PaymentRequiredError struct{ statusError }

func PaymentRequired(message string) *PaymentRequiredError {
	return &PaymentRequiredError{statusError{http.StatusPaymentRequired, message}}
}

// ForbiddenError: a valid session that may not touch this resource (403).
type ForbiddenError struct{ statusError }

func Forbidden(message string) *ForbiddenError {
	if message == "" {
		message = "Forbidden"
	}
	return &ForbiddenError{statusError{http.StatusForbidden, message}}
}

// NotFoundError: no such resource or route (404).
type NotFoundError struct{ statusError }

func NotFound(message string) *NotFoundError {
	if message == "" {
		message = "Not found"
	}
	return &NotFoundError{statusError{http.StatusNotFound, message}}
}

// MethodNotAllowedError: the route exists but not for this method (405).
type MethodNotAllowedError struct{ statusError }

func MethodNotAllowed() *MethodNotAllowedError {
	return &MethodNotAllowedError{statusError{http.StatusMethodNotAllowed, "Method not allowed"}}
}

// ConflictError: the resource's state forbids the change (409).
type ConflictError struct{ statusError }

func Conflict(message string) *ConflictError {
	return &ConflictError{statusError{http.StatusConflict, message}}
}

// PayloadTooLargeError: the body is over the limit (413).
type PayloadTooLargeError struct{ statusError }

func PayloadTooLarge() *PayloadTooLargeError {
	return &PayloadTooLargeError{statusError{http.StatusRequestEntityTooLarge, "Request body too large"}}
}

// UnsupportedMediaTypeError: the body is not JSON (415).
type UnsupportedMediaTypeError struct{ statusError }

func UnsupportedMediaType() *UnsupportedMediaTypeError {
	return &UnsupportedMediaTypeError{statusError{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}}
}

// TooManyRequestsError: a rate limit was hit (429).
type TooManyRequestsError struct{ statusError }

func TooManyRequests(message string) *TooManyRequestsError {
	return &TooManyRequestsError{statusError{http.StatusTooManyRequests, message}}
}

// BadGatewayError: an upstream (Stripe) failed in a way we can report (502).
type BadGatewayError struct{ statusError }

func BadGateway(message string) *BadGatewayError {
	return &BadGatewayError{statusError{http.StatusBadGateway, message}}
}

// DatabaseConnectionError: the database is unreachable (503). Its message is
// generic on purpose; the cause is for the log.
type DatabaseConnectionError struct {
	statusError
	Cause error
}

func DatabaseConnection(cause error) *DatabaseConnectionError {
	return &DatabaseConnectionError{statusError{http.StatusServiceUnavailable, "Service temporarily unavailable"}, cause}
}

func (e *DatabaseConnectionError) Unwrap() error { return e.Cause }

// ServiceUnavailableError: a dependency is down; try again later (503).
type ServiceUnavailableError struct{ statusError }

func ServiceUnavailable(message string) *ServiceUnavailableError {
	return &ServiceUnavailableError{statusError{http.StatusServiceUnavailable, message}}
}
