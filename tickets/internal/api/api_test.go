package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
	"ticketing.dev/tickets/internal/app"
	"ticketing.dev/tickets/internal/store"
	"ticketing.dev/tickets/internal/ticket"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type harness struct {
	t       *testing.T
	api     *apitest.Client
	tickets *store.Tickets
	bus     *bus.Client
	seller  string // a session token
	buyer   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	svc := servicetest.Start(t, app.Service)
	return &harness{
		t: t, api: svc.API, tickets: svc.App.Tickets, bus: svc.Deps.Bus,
		seller: svc.Session("seller-1"),
		buyer:  svc.Session("buyer-1"),
	}
}

type ticketBody struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Price     float64   `json:"price"`
	UserID    string    `json:"userId"`
	Version   int64     `json:"version"`
	Reserved  bool      `json:"reserved"`
	Sold      bool      `json:"sold"`
	CreatedAt time.Time `json:"createdAt"`
}

type listBody struct {
	Tickets []ticketBody `json:"tickets"`
	Next    *string      `json:"next"`
}

func (h *harness) create(token, title string, price float64) ticketBody {
	h.t.Helper()
	res := h.api.Do("POST", "/api/tickets", map[string]any{"title": title, "price": price}, apitest.As(token))
	require.Equal(h.t, http.StatusCreated, res.Status, res.Raw)
	var tk ticketBody
	res.Decode(h.t, &tk)
	return tk
}

// setState puts a ticket in a state the orders service's events would.
func (h *harness) setState(id string, change func(*ticket.Ticket) error) {
	h.t.Helper()
	_, err := h.tickets.Update(testenv.Context(h.t), id, change)
	require.NoError(h.t, err)
}

func TestCreateListsATicketAtVersionZero(t *testing.T) {
	h := newHarness(t)
	res := h.api.Do("POST", "/api/tickets", `{"title":"  Concert  ","price":20.5}`, apitest.As(h.seller))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	var tk ticketBody
	res.Decode(t, &tk)
	assert.NotEmpty(t, tk.ID)
	assert.Equal(t, "Concert", tk.Title, "titles are trimmed")
	assert.Equal(t, 20.5, tk.Price)
	assert.Equal(t, "seller-1", tk.UserID)
	assert.Equal(t, int64(0), tk.Version)
	assert.False(t, tk.Reserved)
	assert.False(t, tk.Sold)
	assert.NotContains(t, res.Raw, "_id")
	assert.NotContains(t, res.Raw, "outbox")

	show := h.api.Do("GET", "/api/tickets/"+tk.ID, nil)
	require.Equal(t, http.StatusOK, show.Status)
	var shown ticketBody
	show.Decode(t, &shown)
	assert.Equal(t, tk, shown)
}

func TestCreateRefusesBadInputNamingTheField(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("é", ticket.MaxTitleLength+1)
	cases := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"title of 200 characters", `{"title":"` + long[:len(long)-2] + `","price":10}`, 201, nil},
		{"price with 2 decimals", `{"title":"t","price":19.99}`, 201, nil},
		{"highest price", `{"title":"t","price":999999.99}`, 201, nil},
		{"missing title", `{"price":10}`, 400, []string{"title"}},
		{"blank title", `{"title":"   ","price":10}`, 400, []string{"title"}},
		{"title of 201 characters", `{"title":"` + long + `","price":10}`, 400, []string{"title"}},
		{"title not a string", `{"title":7,"price":10}`, 400, []string{"title"}},
		{"missing price", `{"title":"t"}`, 400, []string{"price"}},
		{"null price", `{"title":"t","price":null}`, 400, []string{"price"}},
		{"zero price", `{"title":"t","price":0}`, 400, []string{"price"}},
		{"negative price", `{"title":"t","price":-10}`, 400, []string{"price"}},
		{"price with 3 decimals", `{"title":"t","price":10.123}`, 400, []string{"price"}},
		{"price in exponent form", `{"title":"t","price":1e3}`, 400, []string{"price"}},
		{"price above the maximum", `{"title":"t","price":1000000}`, 400, []string{"price"}},
		{"price as a string", `{"title":"t","price":"10"}`, 400, []string{"price"}},
		{"price as the string NaN", `{"title":"t","price":"NaN"}`, 400, []string{"price"}},
		{"price as a word", `{"title":"t","price":"ten"}`, 400, []string{"price"}},
		// A bare NaN is not JSON at all: the body is malformed, no field to name.
		{"bare NaN", `{"title":"t","price":NaN}`, 400, nil},
		{"title and price both bad", `{"title":"","price":-1}`, 400, []string{"title", "price"}},
		{"unknown field", `{"title":"t","price":10,"sold":true}`, 400, []string{"sold"}},
		{"malformed JSON", `{"title":`, 400, nil},
		{"empty body", ``, 400, nil},
		{"array body", `[]`, 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.api.Do("POST", "/api/tickets", tc.body, apitest.As(h.seller))
			require.Equal(t, tc.status, res.Status, res.Raw)
			if tc.status != http.StatusCreated {
				assert.Equal(t, tc.fields, res.Fields(t))
			}
		})
	}
}

func TestPriceMessagesSayTheRule(t *testing.T) {
	h := newHarness(t)
	cases := map[string]string{
		`-1`:         "must be at least 0.5",
		`0`:          "must be at least 0.5",
		`0.49`:       "must be at least 0.5",
		`10.123`:     "must be a number with at most 2 decimal places",
		`1000000.00`: "must be at most 999999.99",
		`"10"`:       "must be a number",
	}
	for price, message := range cases {
		res := h.api.Do("POST", "/api/tickets", `{"title":"t","price":`+price+`}`, apitest.As(h.seller))
		require.Equal(t, http.StatusBadRequest, res.Status, price)
		assert.Equal(t, message, res.Message(t), price)
	}
}

func TestSignedInRoutesNeedAValidSession(t *testing.T) {
	h := newHarness(t)
	tk := h.create(h.seller, "Concert", 10)
	other, err := session.NewManager("another-key-0123456789abcdef-0123456789", false)
	require.NoError(t, err)
	forged, err := other.Token(session.User{ID: "seller-1", Email: "x@example.com"})
	require.NoError(t, err)
	for _, opts := range [][]apitest.Option{nil, {apitest.As("garbage")}, {apitest.As(forged)}} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/api/tickets", `{"title":"t","price":1}`},
			{"PUT", "/api/tickets/" + tk.ID, `{"title":"t","price":1}`},
			{"PUT", "/api/tickets/not-an-id", `{"title":"t","price":1}`},
			{"GET", "/api/tickets/mine", ""},
		} {
			res := h.api.Do(r.method, r.path, r.body, opts...)
			assert.Equal(t, http.StatusUnauthorized, res.Status, "%s %s", r.method, r.path)
			assert.Equal(t, "Not authorized", res.Message(t))
		}
	}
}

func TestShowAnswers404ForUnknownAndMalformedIDs(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"5f1e0000c0ffee0000c0ffee", "nope", "123", "5f1e0000c0ffee0000c0ffeeX"} {
		res := h.api.Do("GET", "/api/tickets/"+id, nil)
		assert.Equal(t, http.StatusNotFound, res.Status, id)
		assert.Equal(t, "Ticket not found", res.Message(t))
	}
}

func TestUpdate(t *testing.T) {
	h := newHarness(t)
	reserved := h.create(h.seller, "Reserved", 10)
	h.setState(reserved.ID, func(t *ticket.Ticket) error { return t.Reserve("order-1") })
	sold := h.create(h.seller, "Sold", 10)
	h.setState(sold.ID, func(t *ticket.Ticket) error { return t.MarkSold("order-2") })
	free := h.create(h.seller, "Free", 10)

	cases := []struct {
		name    string
		id      string
		token   string
		body    string
		status  int
		message string
		fields  []string
	}{
		{"someone else's ticket", free.ID, h.buyer, `{"title":"Mine now","price":1}`, 403, "Only the seller may change this ticket", nil},
		{"unknown id", "5f1e0000c0ffee0000c0ffee", h.seller, `{"title":"t","price":1}`, 404, "Ticket not found", nil},
		{"malformed id", "nope", h.seller, `{"title":"t","price":1}`, 404, "Ticket not found", nil},
		{"reserved", reserved.ID, h.seller, `{"title":"t","price":1}`, 409, "Ticket is reserved", nil},
		{"sold", sold.ID, h.seller, `{"title":"t","price":1}`, 409, "Ticket is sold", nil},
		{"bad title and price", free.ID, h.seller, `{"title":"","price":0}`, 400, "", []string{"title", "price"}},
		{"price with 3 decimals", free.ID, h.seller, `{"title":"t","price":1.001}`, 400, "", []string{"price"}},
		{"missing price", free.ID, h.seller, `{"title":"t"}`, 400, "", []string{"price"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.api.Do("PUT", "/api/tickets/"+tc.id, tc.body, apitest.As(tc.token))
			require.Equal(t, tc.status, res.Status, res.Raw)
			if tc.message != "" {
				assert.Equal(t, tc.message, res.Message(t))
			}
			assert.Equal(t, tc.fields, res.Fields(t))
		})
	}

	res := h.api.Do("PUT", "/api/tickets/"+free.ID, `{"title":" Free, row 2 ","price":12.75}`, apitest.As(h.seller))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	var updated ticketBody
	res.Decode(t, &updated)
	assert.Equal(t, "Free, row 2", updated.Title)
	assert.Equal(t, 12.75, updated.Price)
	assert.Equal(t, int64(1), updated.Version, "refused updates did not bump the version; this one did")

	res = h.api.Do("PUT", "/api/tickets/"+free.ID, `{"title":"Free, row 2","price":12.75}`, apitest.As(h.seller))
	require.Equal(t, http.StatusOK, res.Status)
	assert.EqualValues(t, 2, res.Object(t)["version"], "every accepted update is a new version")
}

func TestListShowsOnlyTicketsForSaleNewestFirstInPages(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, h.create(h.seller, fmt.Sprint("Ticket ", i), float64(10+i)).ID)
	}
	h.setState(ids[1], func(t *ticket.Ticket) error { return t.Reserve("order-1") })
	h.setState(ids[3], func(t *ticket.Ticket) error { return t.MarkSold("order-2") })

	var all listBody
	res := h.api.Do("GET", "/api/tickets", nil)
	require.Equal(t, http.StatusOK, res.Status)
	res.Decode(t, &all)
	assert.Equal(t, []string{ids[4], ids[2], ids[0]}, idsOf(all.Tickets))
	assert.Nil(t, all.Next)

	var first, second listBody
	h.api.Do("GET", "/api/tickets?limit=2", nil).Decode(t, &first)
	assert.Equal(t, []string{ids[4], ids[2]}, idsOf(first.Tickets))
	require.NotNil(t, first.Next)
	h.api.Do("GET", "/api/tickets?limit=2&after="+*first.Next, nil).Decode(t, &second)
	assert.Equal(t, []string{ids[0]}, idsOf(second.Tickets))
	assert.Nil(t, second.Next)
}

func TestListDefaultsTo20AndAllowsAtMost100(t *testing.T) {
	h := newHarness(t)
	for i := range 21 {
		h.create(h.seller, fmt.Sprint("Ticket ", i), 10)
	}
	var page listBody
	h.api.Do("GET", "/api/tickets", nil).Decode(t, &page)
	assert.Len(t, page.Tickets, 20)
	assert.NotNil(t, page.Next)
	h.api.Do("GET", "/api/tickets?limit=100", nil).Decode(t, &page)
	assert.Len(t, page.Tickets, 21)
	assert.Nil(t, page.Next)
}

func TestListRefusesBadPagingNamingTheParameter(t *testing.T) {
	h := newHarness(t)
	cases := map[string][]string{
		"limit=0":           {"limit"},
		"limit=101":         {"limit"},
		"limit=-5":          {"limit"},
		"limit=ten":         {"limit"},
		"limit=2.5":         {"limit"},
		"after=garbage":     {"after"},
		"limit=0&after=bad": {"limit", "after"},
	}
	for query, fields := range cases {
		for _, path := range []string{"/api/tickets?", "/api/tickets/mine?"} {
			res := h.api.Do("GET", path+query, nil, apitest.As(h.seller))
			assert.Equal(t, http.StatusBadRequest, res.Status, path+query)
			assert.Equal(t, fields, res.Fields(t), path+query)
		}
	}
}

func TestSellersSeeTheirOwnListingsInEveryState(t *testing.T) {
	h := newHarness(t)
	free := h.create(h.seller, "Free", 10)
	reserved := h.create(h.seller, "Reserved", 10)
	sold := h.create(h.seller, "Sold", 10)
	h.create(h.buyer, "Someone else's", 10)
	h.setState(reserved.ID, func(t *ticket.Ticket) error { return t.Reserve("order-1") })
	h.setState(sold.ID, func(t *ticket.Ticket) error { return t.MarkSold("order-2") })

	var mine listBody
	res := h.api.Do("GET", "/api/tickets/mine", nil, apitest.As(h.seller))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	res.Decode(t, &mine)
	assert.Equal(t, []string{sold.ID, reserved.ID, free.ID}, idsOf(mine.Tickets))
	assert.True(t, mine.Tickets[0].Sold)
	assert.True(t, mine.Tickets[1].Reserved)
	assert.False(t, mine.Tickets[2].Reserved || mine.Tickets[2].Sold)
}

func TestUnknownRoutesAndMethodsAnswerInTheCommonBody(t *testing.T) {
	h := newHarness(t)
	res := h.api.Do("GET", "/api/tickets/a/b", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	res.Errors(t)
	res = h.api.Do("DELETE", "/api/tickets/5f1e0000c0ffee0000c0ffee", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, res.Status)
	res.Errors(t)
}

func TestChangesArePublishedInVersionOrder(t *testing.T) {
	h := newHarness(t)
	got := testenv.Record(t, h.bus, events.SubjectTicketCreated, events.SubjectTicketUpdated)
	tk := h.create(h.seller, "Concert", 10)
	for i := range 3 {
		res := h.api.Do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "Concert", "price": 11 + i}, apitest.As(h.seller))
		require.Equal(t, http.StatusOK, res.Status)
	}
	require.Eventually(t, func() bool { return len(forTicket(t, got, tk.ID)) == 4 }, 10*time.Second, 20*time.Millisecond)
	evs := forTicket(t, got, tk.ID)
	assert.Equal(t, events.SubjectTicketCreated, evs[0].subject)
	for i, e := range evs {
		assert.Equal(t, int64(i), e.version)
		assert.Equal(t, "seller-1", e.userID)
	}
	assert.EqualValues(t, 1300, evs[3].price)
}

func idsOf(ts []ticketBody) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// published is one ticket event as a consumer sees it.
type published struct {
	subject events.Subject
	id      string
	version int64
	price   int64
	userID  string
	orderID string
	sold    bool
}

// forTicket returns one ticket's events, ordered by version (the two
// subjects are separate channels, so arrival order across them is free).
func forTicket(t *testing.T, rec *testenv.Recorder, id string) []published {
	byVersion := map[int64]published{}
	for _, e := range testenv.Payloads(t, rec, func(e events.TicketCreated) bool { return e.ID == id }) {
		byVersion[e.Version] = published{subject: e.Subject(), id: e.ID, version: e.Version, price: e.Price.Cents(), userID: e.UserID}
	}
	for _, e := range testenv.Payloads(t, rec, func(e events.TicketUpdated) bool { return e.ID == id }) {
		byVersion[e.Version] = published{subject: e.Subject(), id: e.ID, version: e.Version, price: e.Price.Cents(), userID: e.UserID, orderID: e.OrderID, sold: e.Sold}
	}
	out := make([]published, 0, len(byVersion))
	for v := int64(0); ; v++ {
		p, ok := byVersion[v]
		if !ok {
			return out
		}
		out = append(out, p)
	}
}
