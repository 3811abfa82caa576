package api_test

// The public reads' validators and freshness (snapshots.go), against a real
// database reached through a proxy that counts every command sent to it.

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/tickets/internal/api"
	"ticketing.dev/tickets/internal/app"
)

// monitoring are the commands the driver sends by itself, whatever requests
// the service serves: server monitoring and round-trip pings.
var monitoring = []string{"hello", "isMaster", "ismaster", "ping"}

// total adds up a Commands count.
func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func revalidate(api *apitest.Client, path, etag string) apitest.Response {
	return api.Do("GET", path, nil, apitest.Header("If-None-Match", etag))
}

// counted starts tickets on a database reached through a proxy that counts
// commands, lists one ticket, and stops the relay: from then on only requests
// talk to the database (the relay reads its outbox every second).
func counted(t *testing.T, opts ...servicetest.Option) (*harness, *testenv.FaultProxy, ticketBody) {
	uri, db := testenv.ProxiedDatabaseURI(t)
	svc := servicetest.Start(t, app.Service, append([]servicetest.Option{servicetest.Set("MONGO_URI", uri)}, opts...)...)
	h := &harness{t: t, api: svc.API, tickets: svc.App.Tickets, seller: svc.Session("seller-1")}
	tk := h.create(h.seller, "Concert", 20)
	svc.Stop()
	return h, db, tk
}

func TestA304CostsTheDatabaseNoQuery(t *testing.T) {
	h, db, tk := counted(t)

	for _, path := range []string{"/api/tickets/" + tk.ID, "/api/tickets", "/api/tickets?limit=5"} {
		before := total(db.Commands(monitoring...))
		first := h.api.Do("GET", path, nil)
		require.Equal(t, http.StatusOK, first.Status, first.Raw)
		etag := first.Header.Get("ETag")
		require.NotEmpty(t, etag, path)
		assert.Empty(t, first.Header.Get("Age"), "%s: read for this request", path)
		read := total(db.Commands(monitoring...)) - before
		assert.Positive(t, read, "%s: the first read asks the database", path)

		for range 50 {
			res := revalidate(h.api, path, etag)
			require.Equal(t, http.StatusNotModified, res.Status, path)
			assert.Empty(t, res.Raw, "a 304 has no body")
			assert.Equal(t, etag, res.Header.Get("ETag"))
			assert.Equal(t, "public, max-age=1", res.Header.Get("Cache-Control"))
		}
		assert.Equal(t, read, total(db.Commands(monitoring...))-before, "%s: fifty 304s cost no database command: %v", path, db.Commands(monitoring...))
	}
}

// PUBLIC_READ_SNAPSHOT=0s turns the snapshot off: every read, a 304
// included, asks the database, and none says it is older than its read.
func TestWithoutASnapshotEveryReadAsksTheDatabase(t *testing.T) {
	h, db, tk := counted(t, servicetest.Set("PUBLIC_READ_SNAPSHOT", "0s"))
	path := "/api/tickets/" + tk.ID
	finds := func() int { return db.Commands()["find"] }
	first := h.api.Do("GET", path, nil)
	require.Equal(t, http.StatusOK, first.Status, first.Raw)
	before := finds()
	for range 10 {
		res := revalidate(h.api, path, first.Header.Get("ETag"))
		require.Equal(t, http.StatusNotModified, res.Status)
		assert.Empty(t, res.Header.Get("Age"))
	}
	assert.Equal(t, before+10, finds(), "each revalidation read the ticket")
}

func TestASnapshotIsNeverServedPastItsLife(t *testing.T) {
	h, db, tk := counted(t)
	path := "/api/tickets/" + tk.ID

	readAt := time.Now() // no later than tickets' read
	first := h.api.Do("GET", path, nil)
	etag := first.Header.Get("ETag")
	finds := func() int { return db.Commands()["find"] }
	before := finds()
	for finds() == before {
		res := revalidate(h.api, path, etag)
		require.Equal(t, http.StatusNotModified, res.Status)
		if finds() == before {
			require.Less(t, time.Since(readAt), api.SnapshotLife+250*time.Millisecond, "the snapshot outlived its life")
			assert.Equal(t, "1", res.Header.Get("Age"), "a snapshot says it is not just read")
		}
	}
	assert.GreaterOrEqual(t, time.Since(readAt), api.SnapshotLife, "no read before the snapshot's life ended")
	assert.Equal(t, before+1, finds(), "one read renews the snapshot")
}

func TestEveryChangeChangesTheETag(t *testing.T) {
	svc := servicetest.Start(t, app.Service)
	h := &harness{t: t, api: svc.API, tickets: svc.App.Tickets, bus: svc.Deps.Bus,
		seller: svc.Session("seller-1"), buyer: svc.Session("buyer-1")}
	tk := h.create(h.seller, "Concert", 20)
	one, list := "/api/tickets/"+tk.ID, "/api/tickets"
	tags := func() (string, string) {
		return h.api.Do("GET", one, nil).Header.Get("ETag"), h.api.Do("GET", list, nil).Header.Get("ETag")
	}
	oneTag, listTag := tags()

	// A new listing: the list changes, the ticket does not.
	h.create(h.seller, "Opera", 30)
	newOne, newList := tags()
	assert.Equal(t, oneTag, newOne)
	assert.NotEqual(t, listTag, newList, "a new ticket for sale changes the list's tag at once")
	listTag = newList

	// An edit: a stale tag gets the new body.
	res := h.api.Do("PUT", one, map[string]any{"title": "Concert, moved", "price": 25}, apitest.As(h.seller))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	res = revalidate(h.api, one, oneTag)
	require.Equal(t, http.StatusOK, res.Status, "a stale tag is answered in full")
	var edited ticketBody
	res.Decode(t, &edited)
	assert.Equal(t, int64(1), edited.Version)
	assert.Equal(t, "Concert, moved", edited.Title)
	assert.NotEqual(t, oneTag, res.Header.Get("ETag"))
	oneTag = res.Header.Get("ETag")
	assert.NotEqual(t, listTag, revalidate(h.api, list, listTag).Header.Get("ETag"))

	// A reservation, from the orders service's event on the broker.
	env, err := events.New(events.OrderCreated{ID: "order-1", Status: events.StatusCreated, UserID: "buyer-1",
		ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: tk.ID, Price: 2500}})
	require.NoError(t, err)
	require.NoError(t, h.bus.Publish(testenv.Context(t), env))
	require.Eventually(t, func() bool { return revalidate(h.api, one, oneTag).Status == http.StatusOK },
		10*time.Second, 10*time.Millisecond, "the reservation changes the ticket's tag")
	var reserved ticketBody
	h.api.Do("GET", one, nil).Decode(t, &reserved)
	assert.True(t, reserved.Reserved)
	var page listBody
	h.api.Do("GET", list, nil).Decode(t, &page)
	require.Len(t, page.Tickets, 1, "the reserved ticket is no longer for sale, at once on the process that stored it")
	assert.Equal(t, "Opera", page.Tickets[0].Title)
}

func TestAnotherReplicaStopsOfferingAReservedTicketWithinTheSnapshotsLife(t *testing.T) {
	a := servicetest.Start(t, app.Service)
	b := servicetest.Start(t, app.Service, servicetest.Env(a.Env), servicetest.Set("NATS_CLIENT_ID", testenv.RandomName("tickets")))
	h := &harness{t: t, api: a.API, tickets: a.App.Tickets, seller: a.Session("seller-1")}
	tk := h.create(h.seller, "Concert", 20)
	var page listBody
	b.API.Do("GET", "/api/tickets", nil).Decode(t, &page)
	require.Len(t, page.Tickets, 1, "b holds a snapshot with the ticket for sale")

	require.NoError(t, a.Deliver(events.OrderCreated{ID: "order-1", Status: events.StatusCreated, UserID: "buyer-1",
		ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: tk.ID, Price: 2000}}))
	stored := time.Now()
	for {
		var now listBody
		b.API.Do("GET", "/api/tickets", nil).Decode(t, &now)
		if len(now.Tickets) == 0 {
			break
		}
		require.Less(t, time.Since(stored), api.SnapshotLife+200*time.Millisecond, "b still offers the ticket past the bound it states")
	}
}

func TestPublicReadsSayTheyArePublicAndEverythingElseNoStore(t *testing.T) {
	h := newHarness(t)
	tk := h.create(h.seller, "Concert", 20)
	for _, path := range []string{"/api/tickets", "/api/tickets/" + tk.ID, "/api/tickets?limit=1"} {
		for _, opts := range [][]apitest.Option{nil, {apitest.As(h.buyer)}} {
			res := h.api.Do("GET", path, nil, opts...)
			require.Equal(t, http.StatusOK, res.Status)
			assert.Equal(t, "public, max-age=1", res.Header.Get("Cache-Control"), "%s is the same for everyone", path)
			assert.Regexp(t, `^"[A-Za-z0-9_-]+"$`, res.Header.Get("ETag"), "a strong tag")
			res = revalidate(h.api, path, "not-a-tag")
			assert.Equal(t, http.StatusOK, res.Status, "a malformed If-None-Match is answered in full")
			assert.NotEmpty(t, res.Raw)
		}
	}
	for _, c := range []struct {
		method, path string
		body         any
		as           string
	}{
		{"GET", "/api/tickets/mine", nil, h.seller},
		{"GET", "/api/tickets/mine", nil, ""},
		{"POST", "/api/tickets", map[string]any{"title": "Opera", "price": 3}, h.seller},
		{"PUT", "/api/tickets/" + tk.ID, map[string]any{"title": "Opera", "price": 3}, h.buyer},
		{"GET", "/api/tickets/000000000000000000000000", nil, ""},
		{"GET", "/api/tickets?limit=0", nil, ""},
		{"GET", "/api/nowhere", nil, ""},
	} {
		var opts []apitest.Option
		if c.as != "" {
			opts = append(opts, apitest.As(c.as))
		}
		res := h.api.Do(c.method, c.path, c.body, opts...)
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), "%s %s (%d)", c.method, c.path, res.Status)
		assert.Empty(t, res.Header.Get("ETag"), "%s %s", c.method, c.path)
	}
}
