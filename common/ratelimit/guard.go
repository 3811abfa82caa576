package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/session"
)

// Rule is one limit: Burst attempts at once, then one more every Every.
type Rule struct {
	Burst int
	Every time.Duration
}

// LoadRule reads prefix_BURST and prefix_EVERY, def where unset.
func LoadRule(env *config.Env, prefix string, def Rule) (Rule, error) {
	r := Rule{Burst: env.Int(prefix+"_BURST", def.Burst), Every: env.Duration(prefix+"_EVERY", def.Every)}
	if r.Burst < 1 {
		return r, fmt.Errorf("%s_BURST=%d must be at least 1", prefix, r.Burst)
	}
	return r, nil
}

// Limits are the two limits on one action: per signed-in user, and per client
// address (several users behind one address, or one user with many accounts).
type Limits struct {
	PerUser    Rule
	PerAddress Rule
}

// LoadLimits reads prefix_USER_BURST, prefix_USER_EVERY,
// prefix_ADDRESS_BURST and prefix_ADDRESS_EVERY, def where unset.
func LoadLimits(env *config.Env, prefix string, def Limits) (Limits, error) {
	user, err := LoadRule(env, prefix+"_USER", def.PerUser)
	if err != nil {
		return def, err
	}
	address, err := LoadRule(env, prefix+"_ADDRESS", def.PerAddress)
	if err != nil {
		return def, err
	}
	return Limits{PerUser: user, PerAddress: address}, nil
}

// DefaultRequests is what reserving and paying allow by default: a buyer a
// burst of 10, then one every 6 s (10 a minute: far more than a person picks
// seats or retries a card, far too few to churn a sale's holds or run a card
// tester's list); an address 100 at once, then 10 a second, for the many
// buyers behind one carrier's or venue's NAT.
var DefaultRequests = Limits{
	PerUser:    Rule{Burst: 10, Every: 6 * time.Second},
	PerAddress: Rule{Burst: 100, Every: 100 * time.Millisecond},
}

// Guard limits one action (reserving, paying) per user and per address.
type Guard struct {
	what       string
	perUser    *Limiter
	perAddress *Limiter
	trustProxy bool
	now        func() time.Time
}

// NewGuard limits what (named in the refusal: "reservations") by l.
// trustProxy reads the address from X-Forwarded-For (see ClientAddress).
func NewGuard(what string, l Limits, trustProxy bool) *Guard {
	return &Guard{
		what:       what,
		perUser:    New(l.PerUser.Burst, l.PerUser.Every),
		perAddress: New(l.PerAddress.Burst, l.PerAddress.Every),
		trustProxy: trustProxy,
		now:        time.Now,
	}
}

// Limit is middleware for a route behind middleware.RequireAuth: over
// either limit it answers 429 with Retry-After, in the common error body,
// and the route does not run.
func (g *Guard) Limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := g.now()
		ok, wait := g.perAddress.Allow(ClientAddress(r, g.trustProxy), now)
		if ok {
			user, _ := session.UserFrom(r.Context())
			ok, wait = g.perUser.Allow(user.ID, now)
		}
		if !ok {
			httpx.WriteError(w, r, TooMany(w, wait, "Too many "+g.what+"; try again later"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TooMany sets Retry-After to wait (whole seconds, at least 1) and returns
// the 429 to answer with.
func TooMany(w http.ResponseWriter, wait time.Duration, message string) error {
	seconds := max(int(wait.Round(time.Second).Seconds()), 1)
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	return errs.TooManyRequests(message)
}

// ClientAddress is the address limits count against: the last
// X-Forwarded-For hop when trustProxy (the one the ingress or gateway
// appended; earlier hops are the client's to forge), otherwise the peer.
func ClientAddress(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			hops := strings.Split(xff, ",")
			if ip := strings.TrimSpace(hops[len(hops)-1]); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
