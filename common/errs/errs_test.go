package errs_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
)

func TestEachErrorKnowsItsStatusAndBody(t *testing.T) {
	for _, tc := range []struct {
		err    errs.CustomError
		status int
		items  []errs.Item
	}{
		{&errs.RequestValidationError{Fields: []errs.FieldError{{Field: "email", Message: "is required"}, {Field: "password", Message: "must be at least 8 characters"}}},
			http.StatusBadRequest, []errs.Item{{Field: "email", Message: "is required"}, {Field: "password", Message: "must be at least 8 characters"}}},
		{errs.Validation("price", "must be greater than 0"), http.StatusBadRequest, []errs.Item{{Field: "price", Message: "must be greater than 0"}}},
		{errs.BadRequest("You cannot buy your own ticket"), http.StatusBadRequest, []errs.Item{{Message: "You cannot buy your own ticket"}}},
		{errs.NotAuthorized(), http.StatusUnauthorized, []errs.Item{{Message: "Not authorized"}}},
		{errs.InvalidCredentials(), http.StatusUnauthorized, []errs.Item{{Message: "Invalid credentials"}}},
		{errs.PaymentRequired("Your card was declined"), http.StatusPaymentRequired, []errs.Item{{Message: "Your card was declined"}}},
		{errs.Forbidden(""), http.StatusForbidden, []errs.Item{{Message: "Forbidden"}}},
		{errs.Forbidden("Not your ticket"), http.StatusForbidden, []errs.Item{{Message: "Not your ticket"}}},
		{errs.NotFound(""), http.StatusNotFound, []errs.Item{{Message: "Not found"}}},
		{errs.NotFound("Ticket not found"), http.StatusNotFound, []errs.Item{{Message: "Ticket not found"}}},
		{errs.MethodNotAllowed(), http.StatusMethodNotAllowed, []errs.Item{{Message: "Method not allowed"}}},
		{errs.Conflict("Ticket is reserved"), http.StatusConflict, []errs.Item{{Message: "Ticket is reserved"}}},
		{errs.PayloadTooLarge(), http.StatusRequestEntityTooLarge, []errs.Item{{Message: "Request body too large"}}},
		{errs.UnsupportedMediaType(), http.StatusUnsupportedMediaType, []errs.Item{{Message: "Content-Type must be application/json"}}},
		{errs.TooManyRequests("Too many attempts"), http.StatusTooManyRequests, []errs.Item{{Message: "Too many attempts"}}},
		{errs.BadGateway("Payment provider failed"), http.StatusBadGateway, []errs.Item{{Message: "Payment provider failed"}}},
		{errs.DatabaseConnection(errors.New("dial tcp 10.0.0.7:27017: refused")), http.StatusServiceUnavailable,
			[]errs.Item{{Message: "Service temporarily unavailable"}}},
		{errs.ServiceUnavailable("Try again later"), http.StatusServiceUnavailable, []errs.Item{{Message: "Try again later"}}},
	} {
		t.Run(fmt.Sprintf("%d %T", tc.status, tc.err), func(t *testing.T) {
			assert.Equal(t, tc.status, tc.err.StatusCode())
			assert.Equal(t, tc.items, tc.err.SerializeErrors())
			assert.NotEmpty(t, tc.err.Error())
		})
	}
}

func TestACustomErrorIsFoundThroughWrapping(t *testing.T) {
	err := fmt.Errorf("reserving ticket t1: %w", errs.Conflict("Ticket is reserved"))
	var custom errs.CustomError
	require.ErrorAs(t, err, &custom)
	assert.Equal(t, http.StatusConflict, custom.StatusCode())
}

func TestDatabaseConnectionKeepsItsCauseForTheLog(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:27017: refused")
	err := errs.DatabaseConnection(cause)
	assert.ErrorIs(t, err, cause)
	assert.NotContains(t, err.SerializeErrors()[0].Message, "10.0.0.7")
}

func TestValidationErrorNamesEveryField(t *testing.T) {
	err := &errs.RequestValidationError{Fields: []errs.FieldError{{Field: "title", Message: "is required"}, {Field: "price", Message: "must be greater than 0"}}}
	assert.Contains(t, err.Error(), "title: is required")
	assert.Contains(t, err.Error(), "price: must be greater than 0")
}
