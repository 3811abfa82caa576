package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
	"ticketing.dev/common/tracing"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorded is a tracing that keeps its spans in memory, synchronously.
func recorded(service string) (*tracing.Tracing, *tracetest.InMemoryExporter) {
	spans := tracetest.NewInMemoryExporter()
	return tracing.NewWith(service, sdktrace.WithSyncer(spans)), spans
}

func TestWithoutAnEndpointNothingIsTracedOrExported(t *testing.T) {
	tr, err := tracing.New(context.Background(), "tickets", "")
	require.NoError(t, err)
	require.Nil(t, tr, "no endpoint, no provider and no exporter")
	assert.Empty(t, tr.Middleware(), "no middleware in the chain")
	assert.Nil(t, tr.Monitor(), "no command monitor on the client")
	base := &http.Client{Timeout: time.Second}
	assert.Same(t, base, tr.Client(base), "the client as it was given")
	ctx, span := tr.Tracer().Start(context.Background(), "x")
	assert.False(t, span.IsRecording())
	assert.Nil(t, tracing.Inject(ctx), "an envelope written without tracing carries nothing")
	assert.NoError(t, tr.Shutdown(context.Background()))
}

func TestAMalformedEndpointIsRefused(t *testing.T) {
	_, err := tracing.New(context.Background(), "tickets", "otel-collector:4317")
	require.Error(t, err)
	assert.Contains(t, err.Error(), tracing.EndpointEnv)
}

// The exporter New builds reaches a real OTLP receiver, under the service's
// name, at the latest when the service shuts down.
func TestSpansAreExportedOverOTLPUnderTheServiceName(t *testing.T) {
	rx := testenv.NewOTLP(t)
	tr, err := tracing.New(context.Background(), "tickets", rx.Endpoint)
	require.NoError(t, err)
	_, span := tr.Tracer().Start(context.Background(), "work")
	span.End()
	require.NoError(t, tr.Shutdown(context.Background()), "shutdown flushes the batch")
	got := rx.Spans()
	require.Len(t, got, 1)
	assert.Equal(t, "tickets", got[0].Service)
	assert.Equal(t, "work", got[0].Name)
	assert.Equal(t, span.SpanContext().TraceID().String(), got[0].TraceID)
}

func TestInjectAndExtractCarryTheSpanContext(t *testing.T) {
	tr, _ := recorded("orders")
	ctx, span := tr.Tracer().Start(context.Background(), "request")
	defer span.End()
	c := tracing.Inject(ctx)
	require.Contains(t, c, "traceparent")
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), c))
	assert.Equal(t, span.SpanContext().TraceID(), got.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), got.SpanID())
	assert.True(t, got.IsRemote())
	assert.Equal(t, context.Background(), tracing.Extract(context.Background(), nil), "nothing carried, nothing changed")
}

func TestServerSpansAreNamedByRouteAndContinueTheCallersTrace(t *testing.T) {
	tr, spans := recorded("orders")
	r := chi.NewRouter()
	r.Use(tr.Middleware()...)
	r.Get("/api/orders/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	caller, _ := recorded("client")
	ctx, parent := caller.Tracer().Start(context.Background(), "buyer")
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/orders/65a1b2c3d4e5f60718293a4b", nil)
	req.Header.Set("traceparent", tracing.Inject(ctx)["traceparent"])
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	for _, path := range []string{"/healthz", "/no/such/route"} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
	}

	got := spans.GetSpans()
	require.Len(t, got, 2, "the probe is not traced")
	assert.Equal(t, "GET /api/orders/{id}", got[0].Name, "the route's pattern, never the id")
	assert.Equal(t, trace.SpanKindServer, got[0].SpanKind)
	assert.Equal(t, parent.SpanContext().TraceID(), got[0].SpanContext.TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), got[0].Parent.SpanID())
	attrs := map[string]string{}
	for _, kv := range got[0].Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	assert.Equal(t, map[string]string{"http.request.method": "GET", "http.route": "/api/orders/{id}", "http.response.status_code": "200"},
		attrs, "nothing of the request that names a person: no path, address or agent")
	assert.Equal(t, "GET unmatched", got[1].Name)
}

func TestClientSpansSendTheTraceContext(t *testing.T) {
	tr, spans := recorded("payments")
	var heard string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		heard = r.Header.Get("traceparent")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	ctx, parent := tr.Tracer().Start(context.Background(), "pay")
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/charges", nil)
	res, err := tr.Client(&http.Client{Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	parent.End()

	got := spans.GetSpans()
	require.Len(t, got, 2)
	client := got[0]
	assert.Equal(t, "POST "+srv.Listener.Addr().String(), client.Name)
	assert.Equal(t, trace.SpanKindClient, client.SpanKind)
	assert.Equal(t, parent.SpanContext().SpanID(), client.Parent.SpanID())
	assert.Contains(t, heard, client.SpanContext.TraceID().String(), "the provider's side may join the trace")
}

// Database commands get a span when they are made for something traced,
// and none otherwise (the relay's idle polling).
func TestDatabaseCommandsOfATracedCallGetASpan(t *testing.T) {
	tr, spans := recorded("tickets")
	client, db, err := mongox.ConnectMonitored(context.Background(), testenv.DatabaseURI(t), "", tr.Monitor())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	coll := db.Collection("tickets")
	_, err = coll.InsertOne(context.Background(), bson.M{"title": "untraced"})
	require.NoError(t, err)
	ctx, parent := tr.Tracer().Start(context.Background(), "request")
	_, err = coll.InsertOne(ctx, bson.M{"title": "traced", "email": "a@example.com"})
	require.NoError(t, err)
	parent.End()

	got := spans.GetSpans()
	require.Len(t, got, 2, "one command made for the request, and the request")
	cmd := got[0]
	assert.Equal(t, "insert tickets", cmd.Name)
	assert.Equal(t, trace.SpanKindClient, cmd.SpanKind)
	assert.Equal(t, parent.SpanContext().SpanID(), cmd.Parent.SpanID())
	attrs := map[string]string{}
	for _, kv := range cmd.Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	assert.Equal(t, map[string]string{"db.system.name": "mongodb", "db.namespace": db.Name(),
		"db.operation.name": "insert", "db.collection.name": "tickets"}, attrs, "never the document")
}

func TestLogLinesLoggedInASpanCarryItsTraceID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "orders")
	tr, _ := recorded("orders")
	ctx, span := tr.Tracer().Start(context.Background(), "request")
	defer span.End()

	log.InfoContext(ctx, "order created")
	log.Info("no span here")
	log.With(tracing.LogAttrs(ctx)...).Info("a handler's line")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 3)
	var first, second, third map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &first))
	require.NoError(t, json.Unmarshal(lines[1], &second))
	require.NoError(t, json.Unmarshal(lines[2], &third))
	assert.Equal(t, span.SpanContext().TraceID().String(), first["trace_id"])
	assert.Equal(t, span.SpanContext().SpanID().String(), first["span_id"])
	assert.Equal(t, "orders", first["service"])
	assert.NotContains(t, second, "trace_id")
	assert.Equal(t, span.SpanContext().TraceID().String(), third["trace_id"])
}
