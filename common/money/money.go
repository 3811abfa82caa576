// Package money keeps prices exact. A Price is a whole number of cents; on the
// wire it is a decimal number of currency units (20.5), parsed from its text,
// never through a float, so "19.99" is 1999 cents and charging needs no
// price*100 on a float (DESIGN.md §2).
package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Price is an amount in cents.
type Price int64

// MaxPrice is the largest price a listing may have: 999,999.99, the largest
// amount Stripe charges in one payment (its limit is eight digits of cents).
// A dearer ticket could be reserved but never paid for.
const MaxPrice Price = 999_999_99

// ErrInvalid reports a price literal that is not a decimal with at most two
// fraction digits.
var ErrInvalid = errors.New("must be a number with at most 2 decimal places")

// Parse reads a decimal literal ("20", "20.5", "19.99") into cents. Exponents,
// more than two decimals, signs other than '-', NaN and Infinity are refused.
func Parse(s string) (Price, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(digits, ".")
	if whole == "" || !allDigits(whole) || (hasFrac && (frac == "" || !allDigits(frac))) || len(frac) > 2 {
		return 0, ErrInvalid
	}
	if len(whole) > 15 {
		return 0, ErrInvalid
	}
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, ErrInvalid
	}
	if neg {
		n = -n
	}
	return Price(n), nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Cents is the amount Stripe charges.
func (p Price) Cents() int64 { return int64(p) }

// String renders the shortest exact decimal: 20, 20.5, 19.99.
func (p Price) String() string {
	n := int64(p)
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// MarshalJSON writes the price as a JSON number.
func (p Price) MarshalJSON() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalJSON accepts a JSON number only (a string is a type error).
//
// Both refusals are *json.UnmarshalTypeError on purpose: encoding/json adds the
// field's path only to that error type, so the client learns which field was
// wrong ("price: must be a number with at most 2 decimal places").
func (p *Price) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == '"' || bytes.Equal(b, []byte("null")) || b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return &json.UnmarshalTypeError{Value: "non-number", Type: priceType}
	}
	v, err := Parse(string(b))
	if err != nil {
		return &json.UnmarshalTypeError{Value: "number " + string(b), Type: reflect.TypeFor[Price]()}
	}
	*p = v
	return nil
}

// InvalidJSONMessage is what httpx says about a number Price refused.
func (Price) InvalidJSONMessage() string { return ErrInvalid.Error() }

// priceType makes a non-number read as "must be a number" in httpx's messages.
var priceType = reflect.TypeFor[float64]()
