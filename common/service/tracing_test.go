package service_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/testenv"
)

// One request's trace follows its event through the outbox, the relay, the
// broker and the listener, through real FerretDB, the run's broker (EVENT_BUS) and an
// OTLP receiver: the server span continues the caller's traceparent, the
// publish (by the relay, later, from the stored entry) is its child, and
// the handling is the publish's child.
func TestARequestsTraceFollowsItsEventThroughTheOutboxToTheListener(t *testing.T) {
	rx := testenv.NewOTLP(t)
	port, err := testenv.FreePort()
	require.NoError(t, err)
	env := map[string]string{
		"HOST": "127.0.0.1", "PORT": fmt.Sprint(port),
		"MONGO_URI": testenv.DatabaseURI(t), "JWT_KEY": "demo-key-0123456789abcdef-0123456789",
		"NATS_URL": testenv.SharedBroker(t).URL, "NATS_CLUSTER_ID": testenv.ClusterID, "EVENT_BUS": testenv.BusTransport(), "NATS_CLIENT_ID": testenv.RandomName("demo"),
		"LOG_LEVEL": "error", "OTEL_EXPORTER_OTLP_ENDPOINT": rx.Endpoint,
	}
	d := &demo{handled: make(chan handledIn, 16)}
	api, _, _, _ := runDemo(t, d, port, env)

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	id := testenv.RandomName("thing")
	res := api.Do("POST", "/things/"+id, nil, apitest.Header("traceparent", "00-"+traceID+"-"+callerSpan+"-01"))
	require.Equal(t, http.StatusCreated, res.Status)
	var in trace.SpanContext
	for in.TraceID().String() != traceID {
		select {
		case h := <-d.handled:
			if h.event.ID == id { // the channel holds earlier tests' events too
				in = h.span
				assert.Equal(t, traceID, in.TraceID().String(), "the handler runs in the request's trace")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the event never reached the listener in the request's trace")
		}
	}

	var server, insert, publish, handle testenv.Span
	require.Eventually(t, func() bool {
		spans := map[string]testenv.Span{}
		for _, s := range rx.Trace(traceID) {
			spans[s.Name] = s
		}
		server, insert = spans["POST /things/{id}"], spans["insert things"]
		publish, handle = spans["publish ticket:created"], spans["handle ticket:created"]
		return server.SpanID != "" && insert.SpanID != "" && publish.SpanID != "" && handle.SpanID != ""
	}, 10*time.Second, 50*time.Millisecond, "spans of the request, its write, the publish and the handling: %v", rx.Trace(traceID))
	for _, s := range []testenv.Span{server, insert, publish, handle} {
		assert.Equal(t, "demo", s.Service, s.Name)
	}
	assert.Equal(t, callerSpan, server.ParentID, "the server span continues the caller's")
	assert.Equal(t, server.SpanID, insert.ParentID, "the write is the request's")
	assert.Equal(t, server.SpanID, publish.ParentID, "the relay's publish continues the request that queued the event")
	assert.Equal(t, publish.SpanID, handle.ParentID, "the handling continues the publish")
	assert.Equal(t, handle.SpanID, in.SpanID().String())
	assert.Equal(t, "PRODUCER", publish.Kind[len("SPAN_KIND_"):])
	assert.Equal(t, "CONSUMER", handle.Kind[len("SPAN_KIND_"):])
	assert.Equal(t, "acked", handle.Attrs["ticketing.event.outcome"])
	assert.False(t, publish.Start.Before(server.Start), "published after the request began")
	assert.False(t, handle.Start.Before(publish.Start), "handled after it was published")
}
