package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptionsDefaultToAnOwnSystem(t *testing.T) {
	o, err := parseOptions(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, o.Duration)
	assert.Equal(t, 8, o.Concurrency)
	assert.Equal(t, 8, o.SaleConcurrency, "the flash sale uses -concurrency unless told otherwise")
	assert.Equal(t, 1000, o.Buyers)
	assert.Equal(t, 100, o.SaleTickets)
	assert.Empty(t, o.BaseURL)
	assert.Equal(t, 4100, o.BasePort)
}

func TestOptionsNameARunningSystem(t *testing.T) {
	o, err := parseOptions([]string{"-sale-concurrency", "50"}, env(map[string]string{
		"BASE_URL": "http://localhost:8080", "DATA_DIR": "/srv/.data", "BASE_PORT": "5100"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:8080", o.BaseURL)
	assert.Equal(t, "/srv/.data", o.DataDir)
	assert.Equal(t, 5100, o.BasePort)
	assert.Equal(t, 50, o.SaleConcurrency)
}

func TestBadOptionsAreAllNamed(t *testing.T) {
	_, err := parseOptions([]string{"-concurrency", "0", "-buyers", "10", "-duration", "-1s"},
		env(map[string]string{"BASE_URL": "http://localhost:8080", "BASE_PORT": "http"}), io.Discard)
	require.Error(t, err)
	assert.EqualError(t, err, `BASE_PORT="http" is not a port number`)

	_, err = parseOptions([]string{"-concurrency", "0", "-buyers", "10", "-duration", "-1s"},
		env(map[string]string{"BASE_URL": "http://localhost:8080"}), io.Discard)
	require.Error(t, err)
	for _, want := range []string{
		"both BASE_URL and DATA_DIR",
		"-concurrency must be at least 1",
		"-duration must be positive",
		"-buyers must be at least -sale-tickets",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestOptionsNameTheFlashSaleCells(t *testing.T) {
	o, err := parseOptions(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, intList{8, 50}, o.SaleInFlight, "8 and 50 in flight by default")
	assert.Equal(t, intList{100, 1000}, o.SaleCatalogues, "100 and 1,000 tickets by default")
	assert.Empty(t, o.saleEnv(), "four cells fit the default open-order cap")

	o, err = parseOptions([]string{"-only", "sale", "-sale-in-flight", "1,8,50", "-sale-catalogues", "1000,100"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, intList{1, 8, 50}, o.SaleInFlight)
	assert.Equal(t, intList{1000, 100}, o.SaleCatalogues)
	assert.Equal(t, []string{"MAX_OPEN_ORDERS=6"}, o.saleEnv(), "a buyer may win once in each of six cells")

	_, err = parseOptions([]string{"-sale-in-flight", "8,0"}, env(nil), io.Discard)
	assert.ErrorContains(t, err, `"0" is not a positive count`)
}
