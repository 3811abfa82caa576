// Package apitest drives a service's HTTP API the way a client does, for
// tests: JSON bodies in, status and JSON out, session cookies, and the shape
// of the common error body checked on the way.
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/session"
)

// Client sends requests to one base URL.
type Client struct {
	t    testing.TB
	base string
	http *http.Client
}

// New returns a client for baseURL ("http://127.0.0.1:1234").
func New(t testing.TB, baseURL string) *Client {
	return &Client{t: t, base: baseURL, http: &http.Client{Timeout: 30 * time.Second}}
}

// Option adjusts one request.
type Option func(*http.Request)

// As sends the request with a session token (see Session) as the cookie.
func As(token string) Option {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: session.CookieName, Value: token})
	}
}

// Header sets a request header.
func Header(name, value string) Option {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// Response is a finished request.
type Response struct {
	Status int
	Header http.Header
	Raw    string
}

// Do sends a request and fails the test if it cannot be sent. body is sent
// as is when it is a string, encoded as JSON otherwise, and omitted when nil.
func (c *Client) Do(method, path string, body any, opts ...Option) Response {
	c.t.Helper()
	res, err := c.Try(method, path, body, opts...)
	require.NoError(c.t, err)
	return res
}

// Try is Do without the test: safe from any goroutine.
func (c *Client) Try(method, path string, body any, opts ...Option) (Response, error) {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		return Response{}, err
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}, nil
}

// Decode reads the body into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.Raw), v), "body: %s", r.Raw)
}

// Object reads the body as a JSON object.
func (r Response) Object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.Decode(t, &m)
	return m
}

// Errors checks that the body is the common error body, every item with a
// message, and returns its items.
func (r Response) Errors(t testing.TB) []errs.Item {
	t.Helper()
	var body struct {
		Errors []errs.Item `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewBufferString(r.Raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&body), "common error body expected, got %d %s", r.Status, r.Raw)
	require.NotEmpty(t, body.Errors, "common error body expected, got %d %s", r.Status, r.Raw)
	for _, e := range body.Errors {
		require.NotEmpty(t, e.Message, "every error has a message: %s", r.Raw)
	}
	return body.Errors
}

// Fields returns the fields the error body names, in order (nil for none).
func (r Response) Fields(t testing.TB) []string {
	t.Helper()
	var fields []string
	for _, e := range r.Errors(t) {
		if e.Field != "" {
			fields = append(fields, e.Field)
		}
	}
	return fields
}

// Message returns the first error's message.
func (r Response) Message(t testing.TB) string {
	t.Helper()
	return r.Errors(t)[0].Message
}

// Cookie returns the cookie the response sets under name, and fails the test
// if it sets none.
func (r Response) Cookie(t testing.TB, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("apitest: no %s cookie in %v", name, r.Header)
	return nil
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Raw) }

// Session mints a session token for userID signed with jwtKey, as auth would
// issue it, so a test can act as any user without signing up.
func Session(t testing.TB, jwtKey, userID string) string {
	t.Helper()
	m, err := session.NewManager(jwtKey, false)
	require.NoError(t, err)
	token, err := m.Token(session.User{ID: userID, Email: userID + "@example.com"})
	require.NoError(t, err)
	return token
}
