package money_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/money"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want money.Price
	}{
		{"20", 2000},
		{"20.5", 2050},
		{"20.50", 2050},
		{"19.99", 1999},
		{"0.1", 10},
		{"0.01", 1},
		{"0", 0},
		{"999999.99", money.MaxPrice},
		{"999999999999999.99", 99999999999999999},
		{"-1.5", -150},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := money.Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"1.234", "0.001", "1e3", "1E3", "NaN", "Infinity", "", "-", "1.", ".5", "abc",
		"+1", " 1", "1 ", "1,5", "1.2.3", "0x10", "--1", "1234567890123456",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := money.Parse(in)
			assert.ErrorIs(t, err, money.ErrInvalid)
		})
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		p    money.Price
		want string
	}{
		{2000, "20"},
		{2050, "20.5"},
		{1999, "19.99"},
		{5, "0.05"},
		{10, "0.1"},
		{0, "0"},
		{100, "1"},
		{-250, "-2.5"},
		{money.MaxPrice, "999999.99"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.p.String())
			back, err := money.Parse(tc.p.String())
			require.NoError(t, err)
			assert.Equal(t, tc.p, back, "String round-trips through Parse")
		})
	}
}

func TestStringRoundTripsEveryCentValue(t *testing.T) {
	for p := money.Price(-1000); p <= 100_000; p++ {
		if back, err := money.Parse(p.String()); err != nil || back != p {
			t.Fatalf("price %d renders as %q, which parses as %d, %v", p, p.String(), back, err)
		}
	}
}

func TestCentsIsTheAmountToCharge(t *testing.T) {
	p, err := money.Parse("19.99")
	require.NoError(t, err)
	assert.Equal(t, int64(1999), p.Cents())
}

type listing struct {
	Price money.Price `json:"price"`
}

func TestMarshalJSONWritesANumber(t *testing.T) {
	for _, tc := range []struct {
		p    money.Price
		want string
	}{
		{2050, `{"price":20.5}`},
		{1999, `{"price":19.99}`},
		{2000, `{"price":20}`},
		{0, `{"price":0}`},
	} {
		b, err := json.Marshal(listing{tc.p})
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(b))

		var back listing
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, tc.p, back.Price)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want money.Price
	}{
		{`{"price":20.5}`, 2050},
		{`{"price":19.99}`, 1999},
		{`{"price":20}`, 2000},
		{`{"price": 0.1 }`, 10},
	} {
		var got listing
		require.NoError(t, json.Unmarshal([]byte(tc.in), &got), tc.in)
		assert.Equal(t, tc.want, got.Price, tc.in)
	}
}

func TestUnmarshalJSONRefusesNamingTheField(t *testing.T) {
	for _, in := range []string{
		`{"price":"20"}`, `{"price":null}`, `{"price":true}`, `{"price":[20]}`, `{"price":{}}`,
		`{"price":1.234}`, `{"price":1e3}`, `{"price":-0.001}`,
	} {
		t.Run(in, func(t *testing.T) {
			var got listing
			err := json.Unmarshal([]byte(in), &got)
			var typeErr *json.UnmarshalTypeError
			require.ErrorAs(t, err, &typeErr)
			assert.Equal(t, "price", typeErr.Field)
		})
	}
}
