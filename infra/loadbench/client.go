package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// api talks to the gateway as a browser would: JSON in and out, the session
// in a cookie. One keep-alive connection per worker, as a crowd of browsers
// would hold.
type api struct {
	base   string
	client *http.Client
	// cookie is the session cookie's name: "session" here, another on a
	// foreign system (sidebyside.go).
	cookie string
}

func newAPI(base string, conns int) *api {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns * 2
	return &api{base: base, client: &http.Client{Transport: t, Timeout: opTimeout}, cookie: "session"}
}

// do sends one request. out, when not nil, receives the decoded body of a
// 2xx answer; any other body is read and dropped so the connection is reused.
// The session cookie of the answer, if it set one, is returned.
func (a *api) do(ctx context.Context, method, path, token string, body, out any) (status int, session string, err error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Add("Cookie", a.cookie+"="+token)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	session = sessionCookie(res.Header.Values("Set-Cookie"), a.cookie)

	if out != nil && res.StatusCode/100 == 2 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return res.StatusCode, session, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, session, nil
}

// sessionCookie is the value the Set-Cookie lines give the cookie named
// name, or "". They are read by hand: net/http skips a cookie whose name is
// not an RFC 6265 token, as the original's "express:sess" is not.
func sessionCookie(lines []string, name string) string {
	value := ""
	for _, l := range lines {
		pair, _, _ := strings.Cut(l, ";")
		if v, ok := strings.CutPrefix(strings.TrimSpace(pair), name+"="); ok {
			value = v
		}
	}
	return value
}

// call is do as one load-loop operation.
func (a *api) call(ctx context.Context, method, path, token string, body any) outcome {
	status, _, err := a.do(ctx, method, path, token, body, nil)
	return outcome{Status: status, Err: err}
}

// person is a signed-up user.
type person struct {
	ID    string
	Email string
	Token string
}

const benchPassword = "loadbench-password"

// signUp creates an account and returns it with its session.
func (a *api) signUp(ctx context.Context, email string) (person, outcome) {
	var u struct {
		ID string `json:"id"`
	}
	status, token, err := a.do(ctx, http.MethodPost, "/api/users/signup", "", map[string]string{"email": email, "password": benchPassword}, &u)
	if err == nil && status == http.StatusCreated && token == "" {
		err = fmt.Errorf("signup of %s set no session cookie", email)
	}
	return person{ID: u.ID, Email: email, Token: token}, outcome{Status: status, Err: err}
}

// listTicket lists a ticket for sale and returns its id.
func (a *api) listTicket(ctx context.Context, seller person, title string, price float64) (string, outcome) {
	var t struct {
		ID string `json:"id"`
	}
	status, _, err := a.do(ctx, http.MethodPost, "/api/tickets", seller.Token, map[string]any{"title": title, "price": price}, &t)
	return t.ID, outcome{Status: status, Err: err}
}

// ticketState is the part of a ticket the flash sale checks.
type ticketState struct {
	Reserved bool `json:"reserved"`
	Sold     bool `json:"sold"`
}

func (a *api) ticket(ctx context.Context, id string) (ticketState, error) {
	var t ticketState
	status, _, err := a.do(ctx, http.MethodGet, "/api/tickets/"+id, "", nil, &t)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET /api/tickets/%s: %d", id, status)
	}
	return t, err
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// get is a GET as one load-loop operation, conditional on etag when one is given.
func (a *api) get(ctx context.Context, path, etag string) outcome {
	status, _, err := a.send(ctx, path, etag)
	return outcome{Status: status, Err: err}
}

// etag is the ETag of path's answer now.
func (a *api) etag(ctx context.Context, path string) (string, error) {
	status, tag, err := a.send(ctx, path, "")
	if err == nil && (status != http.StatusOK || tag == "") {
		err = fmt.Errorf("GET %s: %d, ETag %q", path, status, tag)
	}
	return tag, err
}

func (a *api) send(ctx context.Context, path, ifNoneMatch string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("ETag"), nil
}
