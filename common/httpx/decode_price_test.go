package httpx_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/money"
)

// A price the decoder refuses must name its field, or the client cannot tell
// which input to fix.
func TestRefusedPricesNameTheirField(t *testing.T) {
	type body struct {
		Title string       `json:"title"`
		Price *money.Price `json:"price"`
		Inner struct {
			Price money.Price `json:"price"`
		} `json:"inner"`
	}
	cases := []struct {
		body, field, message string
	}{
		{`{"price": 10.123}`, "price", "must be a number with at most 2 decimal places"},
		{`{"price": 1e3}`, "price", "must be a number with at most 2 decimal places"},
		{`{"price": "10"}`, "price", "must be a number"},
		{`{"price": "NaN"}`, "price", "must be a number"},
		{`{"price": true}`, "price", "must be a number"},
		{`{"inner": {"price": 0.001}}`, "inner.price", "must be a number with at most 2 decimal places"},
		{`{"title": 5}`, "title", "must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			var dst body
			err := httpx.DecodeJSON(r, &dst)
			var invalid *errs.RequestValidationError
			require.ErrorAs(t, err, &invalid)
			require.Len(t, invalid.Fields, 1)
			assert.Equal(t, errs.FieldError{Field: tc.field, Message: tc.message}, invalid.Fields[0])
		})
	}
}

func TestAcceptedPricesAreExactCents(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"price": 19.99}`))
	r.Header.Set("Content-Type", "application/json")
	var dst struct {
		Price money.Price `json:"price"`
	}
	require.NoError(t, httpx.DecodeJSON(r, &dst))
	assert.Equal(t, money.Price(1999), dst.Price)
}
