package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// start runs the command on a free port until the returned cancel, and waits
// until it answers /healthz; done receives run's result.
func start(t *testing.T, webhookURL string) (base string, cancel func(), done chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() {
		done <- run(ctx, config{Port: port, WebhookURL: webhookURL, WebhookSecret: "whsec_x"})
	}()
	base = "http://127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i < 100; i++ {
		var res *http.Response
		if res, err = http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			return base, cancel, done
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	t.Fatal(err)
	return "", nil, nil
}

// The environment's webhook URL and secret reach the stand-in: a confirmed
// PaymentIntent is followed by a signed event at WEBHOOK_URL.
func TestAConfirmedIntentSendsASignedWebhook(t *testing.T) {
	type hook struct{ signature, body string }
	got := make(chan hook, 10)
	payments := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- hook{r.Header.Get("Stripe-Signature"), string(b)}
	}))
	defer payments.Close()
	base, cancel, _ := start(t, payments.URL+"/api/payments/webhook")
	defer cancel()
	post := func(path string, form url.Values) string {
		t.Helper()
		res, err := http.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var pi struct{ ID, Status string }
		if err := json.NewDecoder(res.Body).Decode(&pi); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %v", path, res.StatusCode, err)
		}
		return pi.ID + " " + pi.Status
	}
	id, _, _ := strings.Cut(post("/v1/payment_intents", url.Values{"amount": {"1000"}, "currency": {"usd"}}), " ")
	if status := post("/v1/payment_intents/"+id+"/confirm", url.Values{"payment_method": {"pm_card_visa"}}); status != id+" succeeded" {
		t.Fatalf("confirm: %s", status)
	}
	select {
	case h := <-got:
		if !signedWith("whsec_x", h.signature, h.body) || !strings.Contains(h.body, id) {
			t.Fatalf("webhook %+v: not signed with STRIPE_WEBHOOK_SECRET or not about %s", h, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook reached WEBHOOK_URL")
	}
}

func TestRunServesUntilCancelledThenReturns(t *testing.T) {
	base, cancel, done := start(t, "http://127.0.0.1:1/hook")
	defer cancel()
	url := base + "/healthz"
	res, err := http.Get(url)
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

// signedWith checks a Stripe-Signature header ("t=<unix>,v1=<hex HMAC-SHA256
// of "<unix>.<body>">") against secret, as payments does.
func signedWith(secret, header, body string) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	return ts != "" && hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil))))
}
