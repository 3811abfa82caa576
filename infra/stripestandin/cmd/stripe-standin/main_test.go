package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadConfigReadsTheEnvironment(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{
		"PORT": "12111", "WEBHOOK_URL": "http://payments:3000/api/payments/webhook", "STRIPE_WEBHOOK_SECRET": "whsec_x",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config{Port: 12111, WebhookURL: "http://payments:3000/api/payments/webhook", WebhookSecret: "whsec_x"}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestLoadConfigNamesEveryMissingVariable(t *testing.T) {
	_, err := loadConfig(env(map[string]string{"PORT": "12111"}))
	if err == nil {
		t.Fatal("no error without WEBHOOK_URL and STRIPE_WEBHOOK_SECRET")
	}
	for _, name := range []string{"WEBHOOK_URL", "STRIPE_WEBHOOK_SECRET"} {
		if !strings.Contains(err.Error(), name+" is not set") {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "PORT") {
		t.Errorf("error %q names PORT, which is set", err)
	}
}

func TestLoadConfigRejectsABadPortAndURL(t *testing.T) {
	_, err := loadConfig(env(map[string]string{"PORT": "http", "WEBHOOK_URL": "payments:3000", "STRIPE_WEBHOOK_SECRET": "whsec_x"}))
	if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "WEBHOOK_URL") {
		t.Fatalf("got %v, want errors naming PORT and WEBHOOK_URL", err)
	}
}

func TestHealthzAndTheStandInAreServed(t *testing.T) {
	standIn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(handler(standIn))
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/v1/payment_intents": http.StatusTeapot} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}

func TestRunServesUntilCancelledThenReturns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{Port: port, WebhookURL: "http://127.0.0.1:1/hook", WebhookSecret: "whsec_x"})
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	var res *http.Response
	for i := 0; i < 100; i++ {
		if res, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("GET /healthz: %d %q", res.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("still serving after shutdown")
	}
}
