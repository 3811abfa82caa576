package stripestandin_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing.dev/infra/stripestandin"
)

func post(t *testing.T, base, path, key string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &body)
	return res.StatusCode, body
}

func start(t *testing.T, cfg stripestandin.Config) (*stripestandin.Server, string) {
	s := stripestandin.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv.URL
}

var intent = url.Values{"amount": {"2050"}, "currency": {"usd"}, "metadata[orderId]": {"o1"}}

func TestAnIdempotencyKeyGetsItsFirstAnswerAgain(t *testing.T) {
	s, base := start(t, stripestandin.Config{})
	_, first := post(t, base, "/v1/payment_intents", "k1", intent)
	_, again := post(t, base, "/v1/payment_intents", "k1", intent)
	if first["id"] != again["id"] || s.IntentsCreated() != 1 {
		t.Fatalf("the same key made %d intents: %v, %v", s.IntentsCreated(), first["id"], again["id"])
	}
	s.Next("/v1/payment_intents", stripestandin.ServerError(false))
	status, _ := post(t, base, "/v1/payment_intents", "k2", intent)
	again500, _ := post(t, base, "/v1/payment_intents", "k2", intent)
	if status != 500 || again500 != 500 || s.IntentsCreated() != 1 {
		t.Fatalf("a 500 is saved for its key as Stripe does: %d then %d, %d intents", status, again500, s.IntentsCreated())
	}
}

func TestAKeyStillRunningIs409(t *testing.T) {
	s, base := start(t, stripestandin.Config{})
	hold := make(chan struct{})
	s.Next("/v1/payment_intents", stripestandin.Fault{Hold: hold})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); post(t, base, "/v1/payment_intents", "k", intent) }()
	for len(s.Requests("/v1/payment_intents")) == 0 {
		time.Sleep(time.Millisecond)
	}
	status, _ := post(t, base, "/v1/payment_intents", "k", intent)
	close(hold)
	wg.Wait()
	if status != http.StatusConflict {
		t.Fatalf("want 409 while the key runs, got %d", status)
	}
}

func TestTheTestCardsMoveTheIntent(t *testing.T) {
	for card, want := range map[string]struct {
		status int
		intent string
	}{
		stripestandin.PMVisa:         {http.StatusOK, "succeeded"},
		stripestandin.PMThreeDSecure: {http.StatusOK, "requires_action"},
		stripestandin.PMDeclined:     {http.StatusPaymentRequired, "requires_payment_method"},
	} {
		s, base := start(t, stripestandin.Config{})
		_, pi := post(t, base, "/v1/payment_intents", "", intent)
		id := pi["id"].(string)
		status, _ := post(t, base, "/v1/payment_intents/"+id+"/confirm", "", url.Values{"payment_method": {card}})
		res, err := http.Get(base + "/v1/payment_intents/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var now map[string]any
		_ = json.NewDecoder(res.Body).Decode(&now)
		res.Body.Close()
		if status != want.status || now["status"] != want.intent {
			t.Fatalf("%s: %d and %v, want %d and %s", card, status, now["status"], want.status, want.intent)
		}
		if card == stripestandin.PMThreeDSecure {
			if err := s.Authenticate(id, true); err != nil {
				t.Fatal(err)
			}
			if st, _ := s.ConfirmAsBrowser(id, stripestandin.PMVisa); st != "succeeded" {
				t.Fatalf("after the challenge the intent is %s", st)
			}
		}
	}
}

func TestWebhooksAreSignedAsStripeSignsThem(t *testing.T) {
	const secret = "whsec_test"
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	s, base := start(t, stripestandin.Config{WebhookURL: hook.URL, WebhookSecret: secret})
	_, pi := post(t, base, "/v1/payment_intents", "", intent)
	post(t, base, "/v1/payment_intents/"+pi["id"].(string)+"/confirm", "", url.Values{"payment_method": {stripestandin.PMVisa}})
	r, body := <-got, <-bodies
	var ts int64
	var sig string
	if _, err := fmt.Sscanf(strings.Replace(r.Header.Get("Stripe-Signature"), ",v1=", " ", 1), "t=%d %s", &ts, &sig); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s", ts, body)
	if hex.EncodeToString(mac.Sum(nil)) != sig {
		t.Fatal("signature is not HMAC-SHA256 of t.payload")
	}
	var ev map[string]any
	_ = json.Unmarshal(body, &ev)
	if ev["type"] != "payment_intent.succeeded" || ev["api_version"] != stripestandin.APIVersion {
		t.Fatalf("event %v", ev)
	}
	if len(s.Events()) != 1 {
		t.Fatalf("%d events", len(s.Events()))
	}
}
