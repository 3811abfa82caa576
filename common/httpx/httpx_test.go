package httpx_test

// The request and error contract of DESIGN.md §2, through a real chi router
// with the standard middleware, over a real HTTP connection.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/logtest"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/money"
	"ticketing.dev/common/session"
)

type ticketRequest struct {
	Title string      `json:"title" validate:"required,max=60"`
	Price money.Price `json:"price" validate:"gt=0"`
}

type orderRequest struct {
	Ticket struct {
		ID string `json:"id" validate:"required,mongodb"`
	} `json:"ticket"`
}

// internalDetail is what a failing dependency says; it must reach the log only.
const internalDetail = "mongo: connection refused 10.0.0.7:27017"

// newServer serves a small API the way every service builds its router.
func newServer(t *testing.T) (*httptest.Server, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	sessions, err := session.NewManager("a-test-key-0123456789abcdef-0123456789", false)
	require.NoError(t, err)
	r := chi.NewRouter()
	r.Use(middleware.Standard(slog.New(slog.NewTextHandler(logs, nil)), sessions, middleware.Browsers{})...)
	r.NotFound(httpx.NotFoundHandler)
	r.MethodNotAllowed(httpx.MethodNotAllowedHandler)
	r.Post("/tickets", httpx.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var req ticketRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, req)
		return nil
	}))
	r.Post("/orders", httpx.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var req orderRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, req)
		return nil
	}))
	r.Get("/boom", httpx.Handle(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("inserting ticket: %w", errors.New(internalDetail))
	}))
	r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic(internalDetail) })
	r.Get("/reserved", httpx.Handle(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("updating ticket: %w", errs.Conflict("Ticket is reserved"))
	}))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, logs
}

// hideLength makes the client send a body chunked, with no Content-Length.
type hideLength struct{ io.Reader }

type response struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, srv *httptest.Server, method, path, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// errorItems checks that res is the common error body, JSON with exactly
// {"errors":[{"message":...,"field"?:...}]}, and returns its items.
func errorItems(t *testing.T, res response) []errs.Item {
	t.Helper()
	mediaType, _, err := mime.ParseMediaType(res.header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "application/json", mediaType)

	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(res.body, &top), "body %s", res.body)
	require.Equal(t, []string{"errors"}, keys(top), "body %s", res.body)
	var items []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(top["errors"], &items), "body %s", res.body)
	require.NotEmpty(t, items, "body %s", res.body)
	out := make([]errs.Item, 0, len(items))
	for _, item := range items {
		assert.Subset(t, []string{"field", "message"}, keys(item), "body %s", res.body)
		var it errs.Item
		require.NoError(t, json.Unmarshal(item["message"], &it.Message), "body %s", res.body)
		assert.NotEmpty(t, it.Message, "body %s", res.body)
		if f, ok := item["field"]; ok {
			require.NoError(t, json.Unmarshal(f, &it.Field), "body %s", res.body)
		}
		out = append(out, it)
	}
	return out
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func msg(message string) errs.Item { return errs.Item{Message: message} }

func field(name, message string) errs.Item { return errs.Item{Field: name, Message: message} }

const jsonType = "application/json"

func TestRequestContract(t *testing.T) {
	srv, _ := newServer(t)
	oneMB := `{"title":"` + strings.Repeat("a", 1<<20) + `","price":1}`
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        io.Reader
		status      int
		errors      []errs.Item // nil on success
		created     string      // the echoed request on success
	}{
		{name: "valid request", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":20.5}`), status: 201, created: `{"title":"Concert","price":20.5}`},
		{name: "JSON with a charset", method: "POST", path: "/tickets", contentType: "application/json; charset=utf-8",
			body: strings.NewReader(`{"title":"Concert","price":19.99}`), status: 201, created: `{"title":"Concert","price":19.99}`},
		{name: "malformed JSON", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title" "Concert"}`), status: 400, errors: []errs.Item{msg("Request body is not valid JSON")}},
		{name: "truncated JSON", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert",`), status: 400, errors: []errs.Item{msg("Request body is not valid JSON")}},
		{name: "a JSON array", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`[{"title":"Concert","price":20}]`), status: 400, errors: []errs.Item{msg("Request body must be a JSON object")}},
		{name: "a JSON string", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`"Concert"`), status: 400, errors: []errs.Item{msg("Request body must be a JSON object")}},
		{name: "unknown field", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":20,"userId":"someone-else"}`), status: 400,
			errors: []errs.Item{field("userId", "is not a known field")}},
		{name: "wrong type", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":5,"price":20}`), status: 400, errors: []errs.Item{field("title", "must be a string")}},
		{name: "wrong type in a nested object", method: "POST", path: "/orders", contentType: jsonType,
			body: strings.NewReader(`{"ticket":{"id":5}}`), status: 400, errors: []errs.Item{field("ticket.id", "must be a string")}},
		{name: "trailing object", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":20}{"title":"Again"}`), status: 400,
			errors: []errs.Item{msg("Request body must contain a single JSON object")}},
		{name: "trailing garbage", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":20} x`), status: 400,
			errors: []errs.Item{msg("Request body must contain a single JSON object")}},
		{name: "empty body", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(``), status: 400, errors: []errs.Item{msg("Request body must not be empty")}},
		{name: "blank body", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(" \n"), status: 400, errors: []errs.Item{msg("Request body must not be empty")}},
		{name: "1 MB body", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(oneMB), status: 413, errors: []errs.Item{msg("Request body too large")}},
		{name: "1 MB body sent chunked", method: "POST", path: "/tickets", contentType: jsonType,
			body: hideLength{strings.NewReader(oneMB)}, status: 413, errors: []errs.Item{msg("Request body too large")}},
		{name: "not JSON", method: "POST", path: "/tickets", contentType: "text/plain",
			body: strings.NewReader(`{"title":"Concert","price":20}`), status: 415,
			errors: []errs.Item{msg("Content-Type must be application/json")}},
		{name: "no content type", method: "POST", path: "/tickets",
			body: strings.NewReader(`{"title":"Concert","price":20}`), status: 415,
			errors: []errs.Item{msg("Content-Type must be application/json")}},
		{name: "form", method: "POST", path: "/tickets", contentType: "application/x-www-form-urlencoded",
			body: strings.NewReader(`title=Concert&price=20`), status: 415,
			errors: []errs.Item{msg("Content-Type must be application/json")}},
		{name: "every failed rule, by JSON name", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"","price":0}`), status: 400,
			errors: []errs.Item{field("title", "is required"), field("price", "must be greater than 0")}},
		{name: "missing fields", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{}`), status: 400,
			errors: []errs.Item{field("title", "is required"), field("price", "must be greater than 0")}},
		{name: "nested rule", method: "POST", path: "/orders", contentType: jsonType,
			body: strings.NewReader(`{"ticket":{"id":"not-an-id"}}`), status: 400, errors: []errs.Item{field("ticket.id", "must be a valid id")}},
		{name: "price as a string", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":"20"}`), status: 400, errors: []errs.Item{field("price", "must be a number")}},
		{name: "price with 3 decimals", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":20.505}`), status: 400,
			errors: []errs.Item{field("price", "must be a number with at most 2 decimal places")}},
		{name: "price with an exponent", method: "POST", path: "/tickets", contentType: jsonType,
			body: strings.NewReader(`{"title":"Concert","price":2e1}`), status: 400,
			errors: []errs.Item{field("price", "must be a number with at most 2 decimal places")}},
		{name: "a client error wrapped by the handler", method: "GET", path: "/reserved", status: 409,
			errors: []errs.Item{msg("Ticket is reserved")}},
		{name: "unknown error", method: "GET", path: "/boom", status: 500, errors: []errs.Item{msg("Something went wrong")}},
		{name: "panic", method: "GET", path: "/panic", status: 500, errors: []errs.Item{msg("Something went wrong")}},
		{name: "unknown route", method: "GET", path: "/nowhere", status: 404, errors: []errs.Item{msg("Route not found")}},
		{name: "wrong method", method: "DELETE", path: "/tickets", status: 405, errors: []errs.Item{msg("Method not allowed")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = http.NoBody
			}
			res := send(t, srv, tc.method, tc.path, tc.contentType, body)
			require.Equal(t, tc.status, res.status, "body %s", res.body)
			if tc.errors == nil {
				assert.JSONEq(t, tc.created, string(res.body))
				return
			}
			assert.Equal(t, tc.errors, errorItems(t, res))
		})
	}
}

func TestInternalErrorsAreLoggedNotAnswered(t *testing.T) {
	for _, path := range []string{"/boom", "/panic"} {
		t.Run(path, func(t *testing.T) {
			srv, logs := newServer(t)
			res := send(t, srv, "GET", path, "", http.NoBody)
			require.Equal(t, http.StatusInternalServerError, res.status)
			assert.NotContains(t, string(res.body), "mongo")
			assert.NotContains(t, string(res.body), "10.0.0.7")
			assert.Equal(t, []errs.Item{msg("Something went wrong")}, errorItems(t, res))
			assert.Contains(t, logs.String(), internalDetail, "the detail goes to the log")
		})
	}
}

func TestLogLinesCarryTheRequestID(t *testing.T) {
	srv, logs := newServer(t)
	res := send(t, srv, "GET", "/boom", "", http.NoBody)
	require.Equal(t, http.StatusInternalServerError, res.status)
	assert.Contains(t, logs.String(), "request_id=", "log lines of one request can be found together")
}

func TestADatabaseOutageAnswers503InEveryService(t *testing.T) {
	outage := fmt.Errorf("orders: finding ticket: %w", mongo.ErrClientDisconnected)
	h := httpx.Handle(func(http.ResponseWriter, *http.Request) error { return outage })
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/api/orders", http.NoBody))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	var body errs.Body
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, []errs.Item{msg("Service temporarily unavailable")}, body.Errors)
	assert.NotContains(t, rec.Body.String(), "disconnected", "the cause goes to the log only")
}

func TestErrorMapAnswersTheFirstMatchingEntryEvenWrapped(t *testing.T) {
	errMissing, errTaken := errors.New("missing"), errors.New("taken")
	m := httpx.ErrorMap{
		{Err: errMissing, Answer: errs.NotFound("Thing not found")},
		{Err: errTaken, Answer: errs.Conflict("Thing is taken")},
	}
	var custom errs.CustomError
	require.ErrorAs(t, m.Map(fmt.Errorf("store: %w", errTaken)), &custom)
	assert.Equal(t, http.StatusConflict, custom.StatusCode())
	assert.Equal(t, []errs.Item{msg("Thing is taken")}, custom.SerializeErrors())

	other := errors.New("disk on fire")
	assert.Same(t, other, m.Map(other), "an error the table does not know passes through")
	assert.Nil(t, m.Find(other))
}
