// Package otlpreceiver is an OTLP/gRPC trace receiver that keeps what it
// receives in memory: what an OpenTelemetry Collector is to the services,
// without one. Tests read the spans as data (common/testenv's StartOTLP),
// the benchmark counts them, and cmd/traces prints them as trees. No
// service links it.
package otlpreceiver

import (
	"context"
	"encoding/hex"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Receiver is a running receiver; the services export to it over the
// network, through the SDK's own exporter, as they would to a collector.
type Receiver struct {
	coltrace.UnimplementedTraceServiceServer
	// Endpoint is what OTEL_EXPORTER_OTLP_ENDPOINT names: http://host:port.
	Endpoint string
	srv      *grpc.Server

	mu    sync.Mutex
	spans []Span
}

// Span is one span as it arrived, with ids in hex.
type Span struct {
	Service  string
	Name     string
	Kind     string
	TraceID  string
	SpanID   string
	ParentID string
	Start    time.Time
	End      time.Time
	Attrs    map[string]string
	// Error is the span's status message if its status is an error.
	Error  string
	Failed bool
}

// Start starts a receiver listening on addr (host:port; port 0 picks a
// free one); Close stops it.
func Start(addr string) (*Receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &Receiver{Endpoint: "http://" + ln.Addr().String(), srv: grpc.NewServer()}
	coltrace.RegisterTraceServiceServer(o.srv, o)
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

// Close stops the receiver.
func (o *Receiver) Close() { o.srv.Stop() }

// Export receives one batch (coltrace.TraceServiceServer).
func (o *Receiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, spanOf(service, s))
			}
		}
	}
	o.mu.Lock()
	o.spans = append(o.spans, got...)
	o.mu.Unlock()
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func spanOf(service string, s *tracepb.Span) Span {
	kind := tracepb.Span_SpanKind_name[int32(s.GetKind())]
	return Span{
		Service: service, Name: s.GetName(), Kind: kind,
		TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		ParentID: hex.EncodeToString(s.GetParentSpanId()),
		Start:    time.Unix(0, int64(s.GetStartTimeUnixNano())), End: time.Unix(0, int64(s.GetEndTimeUnixNano())),
		Attrs: attrs(s.GetAttributes()),
		Error: s.GetStatus().GetMessage(), Failed: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
	}
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(v.BoolValue)
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

// Len is how many spans were received so far.
func (o *Receiver) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.spans)
}

// Spans returns every span received so far, by start time.
func (o *Receiver) Spans() []Span {
	o.mu.Lock()
	out := slices.Clone(o.spans)
	o.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// Trace returns the spans received of one trace, by start time.
func (o *Receiver) Trace(traceID string) []Span {
	return slices.DeleteFunc(o.Spans(), func(s Span) bool { return s.TraceID != traceID })
}
