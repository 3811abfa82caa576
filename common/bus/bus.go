package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
)

// ErrNotConnected is returned by Publish while there is no broker connection.
var ErrNotConnected = errors.New("bus: not connected to the broker")

// The transports Config.Transport names (EVENT_BUS).
const (
	TransportStan      = "stan"
	TransportJetStream = "jetstream"
)

// Transports lists the valid values of Config.Transport.
var Transports = []string{TransportStan, TransportJetStream}

// conn is one live connection of a transport: the client's only view of the
// broker's protocol (stan.go, jetstream.go).
type conn interface {
	connected() bool
	// publish sends data and waits for the broker's ack; msgID lets a
	// broker that deduplicates (JetStream) drop a second copy.
	publish(ctx context.Context, subject string, data []byte, msgID string) error
	// subscribe opens s; its messages go to Client.deliver.
	subscribe(s *Subscription) error
	// redrive reads run's parked channel through a durable reader.
	redrive(ctx context.Context, run *redriveRun) error
	// stopDelivery stops taking messages, keeping every durable position.
	stopDelivery()
	// drop releases a connection found dead; close ends a live one.
	drop()
	close() error
}

// delivery is one message handed to a subscription, whatever the transport.
type delivery struct {
	data []byte
	seq  uint64
	// deliveries counts this one: 1 the first time.
	deliveries int
	ack        func() error
}

// ErrNotYet is wrapped by a handler's error when the event depends on one that
// has not been applied yet (a version gap). It is retried in-process, then
// redelivered; it is never parked.
var ErrNotYet = errors.New("depends on an event not applied yet")

// ErrUnavailable is wrapped by a handler's error when something it needs (a
// store, a provider) cannot be reached right now and Unavailable would not
// recognise the error by itself. Like ErrNotYet it is retried and never parked.
var ErrUnavailable = errors.New("a store or provider is unavailable")

// Message is one delivered event.
type Message struct {
	events.Envelope
	// Deliveries counts how often the broker has handed this message to the
	// queue group since it started, this time included. In-process retries of
	// one delivery see the same number.
	Deliveries int
	Sequence   uint64
}

// Handler applies one message. It must be idempotent: the same event may come
// more than once, also concurrently with itself (see the package doc). It
// should honour ctx's deadline. Returning nil acks the message.
type Handler func(ctx context.Context, m Message) error

// Subscription is one durable queue subscription.
type Subscription struct {
	Subject events.Subject
	// Queue is the consuming service's queue group, also the durable name.
	Queue   string
	Handler Handler
	// AckWait is how long the broker waits for an ack before redelivering.
	// A message is held for at most three quarters of it.
	AckWait time.Duration
	// MaxDeliveries bounds how often a message may fail for a reason that is
	// neither a version gap nor an outage before it is parked.
	MaxDeliveries int
	// MaxInflight bounds the messages handled at once (and unacked).
	MaxInflight int
	// AttemptTimeout is the deadline of one call of Handler; the default is
	// half of AckWait.
	AttemptTimeout time.Duration
}

// Option changes one setting of a Subscription made by On.
type Option func(*Subscription)

// MaxDeliveries sets Subscription.MaxDeliveries.
func MaxDeliveries(n int) Option { return func(s *Subscription) { s.MaxDeliveries = n } }

// AckWait sets Subscription.AckWait.
func AckWait(d time.Duration) Option { return func(s *Subscription) { s.AckWait = d } }

// Defaults for subscriptions that leave a field zero, and for Config.StuckAfter.
const (
	// DefaultAckWait is also how long the messages a crashed consumer had in
	// flight wait before another member gets them, so it is short; an
	// attempt gets half of it, 5 s, far more than a healthy database needs
	// (a slower one is an outage, retried), and the message is let go at
	// 7.5 s, before the broker would redeliver it.
	DefaultAckWait       = 10 * time.Second
	DefaultMaxDeliveries = 10
	// DefaultMaxInflight bounds a subscription's concurrent handlers: enough
	// to drain a backlog at the database's pace, few enough that a backlog
	// never queues behind itself past AckWait.
	DefaultMaxInflight = 32
	DefaultStuckAfter  = time.Minute
)

// ParkedChannel is where Queue's poison messages go.
func ParkedChannel(queue string) string { return "parked." + queue }

// Parked is the record of one parked message.
type Parked struct {
	Queue    string          `json:"queue"`
	Subject  string          `json:"subject"`
	Reason   string          `json:"reason"`
	ParkedAt time.Time       `json:"parkedAt"`
	Message  json.RawMessage `json:"message"`
}

// Config says where the broker is and who this process is.
type Config struct {
	// Transport is the broker protocol: TransportStan (the default) or
	// TransportJetStream (EVENT_BUS).
	Transport string
	// Replicas is how many copies of the stream JetStream keeps
	// (JETSTREAM_REPLICAS, default 1; 3 on a 3-node cluster). Stan ignores it.
	Replicas  int
	URL       string
	ClusterID string
	// ClientID must be unique per process (the pod name in Kubernetes).
	ClientID string
	// User and Password are this service's broker credentials (access.go);
	// empty, the client connects without any, which an authenticated broker
	// refuses.
	User, Password string
	Logger         *slog.Logger
	// PingInterval (seconds) and PingMaxOut decide how fast a lost broker is noticed.
	PingInterval int
	PingMaxOut   int
	// PubAckWait bounds how long Publish waits for the broker's ack
	// (default DefaultPubAckWait).
	PubAckWait time.Duration
	// ReconnectWait is the pause between connection attempts.
	ReconnectWait time.Duration
	// Transient recognises more errors that mean "unavailable, try again"
	// than Unavailable does (service.Open adds MongoDB's and Redis's).
	Transient func(error) bool
	// StuckAfter is how long a message may keep failing before it is logged
	// at Error level and listed by Stuck.
	StuckAfter time.Duration
	// Observer is told of every event published, handled, redelivered and
	// parked (observe.go); nil, nobody is.
	Observer Observer
	// Tracing records a span per event published and per delivery handled,
	// joined to the publisher's trace by the envelope (trace.go); nil
	// records none.
	Tracing *tracing.Tracing
}

// DefaultPubAckWait is how long a publish waits for its ack. A publish sent
// to a broker leader that dies is never answered, so this wait, and the
// relay's retry a second later, add to the election before the flows
// resume: up to 6 s at the 5 s this was, up to 3 s now, inside the 10 s a
// cluster losing its leader promises (docs/events.md). 2 s is still
// hundreds of times an ack's p99 under load (make bench-bus); a publish
// that times out is published again, which both transports make harmless
// (Nats-Msg-Id on JetStream, the event id and version checks of every
// listener).
const DefaultPubAckWait = 2 * time.Second

// credentials is the NATS option that presents User and Password.
func (c *Config) credentials() nats.Option {
	if c.User == "" {
		return func(*nats.Options) error { return nil }
	}
	return nats.UserInfo(c.User, c.Password)
}

func (c *Config) setDefaults() {
	if c.Transport == "" {
		c.Transport = TransportStan
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PingInterval == 0 {
		c.PingInterval = 2
	}
	if c.PingMaxOut == 0 {
		c.PingMaxOut = 5
	}
	if c.PubAckWait == 0 {
		c.PubAckWait = DefaultPubAckWait
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = time.Second
	}
	if c.StuckAfter == 0 {
		c.StuckAfter = DefaultStuckAfter
	}
}

// Client is a self-healing connection to NATS Streaming.
type Client struct {
	cfg    Config
	log    *slog.Logger
	tracer trace.Tracer

	mu      sync.Mutex
	conn    conn
	subs    []*Subscription
	closing bool

	lost     chan struct{}
	stop     chan struct{}
	loopDone chan struct{}

	handlerCtx    context.Context
	cancelHandler context.CancelFunc
	handlers      sync.WaitGroup

	// tracked holds every message being handled or failing, under mu.
	tracked   map[msgKey]*tracked
	lastSweep time.Time
	stats     Stats
}

// New starts connecting to the broker in the background and returns at once.
func New(cfg Config) *Client {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:           cfg,
		log:           cfg.Logger.With("component", "bus"),
		tracer:        cfg.Tracing.Tracer(),
		lost:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		loopDone:      make(chan struct{}),
		handlerCtx:    ctx,
		cancelHandler: cancel,
		tracked:       map[msgKey]*tracked{},
	}
	go c.connectLoop()
	return c
}

// Subscribe registers s. It takes effect now if connected, else on connect,
// and again after every reconnect.
func (c *Client) Subscribe(s Subscription) error {
	if s.Subject == "" || s.Queue == "" || s.Handler == nil {
		return errors.New("bus: a subscription needs a subject, a queue and a handler")
	}
	if s.AckWait == 0 {
		s.AckWait = DefaultAckWait
	}
	if s.AckWait < time.Second {
		// NATS Streaming refuses anything shorter; better to say so here than
		// to have a subscription that never delivers.
		return fmt.Errorf("bus: AckWait %s for %s is below NATS Streaming's minimum of 1s", s.AckWait, s.Subject)
	}
	if s.MaxDeliveries == 0 {
		s.MaxDeliveries = DefaultMaxDeliveries
	}
	if s.MaxInflight == 0 {
		s.MaxInflight = DefaultMaxInflight
	}
	if s.AttemptTimeout == 0 {
		s.AttemptTimeout = s.AckWait / 2
	}
	if s.AttemptTimeout >= s.AckWait {
		return fmt.Errorf("bus: AttemptTimeout %s for %s must be below its AckWait %s", s.AttemptTimeout, s.Subject, s.AckWait)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, &s)
	if c.conn != nil {
		if err := c.conn.subscribe(&s); err != nil {
			// Most likely the connection is going away. Either way, starting
			// over resubscribes everything on a fresh connection.
			c.log.Warn("subscribing failed; reconnecting", "subject", s.Subject, "err", err)
			c.connectionLost()
		}
	}
	return nil
}

// Connected reports whether the client holds a live connection.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil && c.conn.connected()
}

// Check is a readiness check: nil while connected.
func (c *Client) Check(context.Context) error {
	if !c.Connected() {
		return ErrNotConnected
	}
	return nil
}

// WaitConnected blocks until connected or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !c.Connected() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the broker (%s): %w", c.cfg.Transport, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Publish sends e and waits for the broker's ack. Its span continues the
// trace e carries, else ctx's (trace.go).
func (c *Client) Publish(ctx context.Context, e events.Envelope) (err error) {
	ctx, span := c.startPublish(ctx, &e)
	defer func() { endSpan(span, err) }()
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("bus: encoding %s: %w", e.Subject, err)
	}
	if err := c.publishRaw(ctx, string(e.Subject), data, e.ID); err != nil {
		return err
	}
	c.cfg.observer().Published(string(e.Subject))
	return nil
}

// publishRaw publishes data on subject; msgID is what the broker
// deduplicates by (an event's id; a parked record's own).
func (c *Client) publishRaw(ctx context.Context, subject string, data []byte, msgID string) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := conn.publish(ctx, subject, data, msgID); err != nil {
		return fmt.Errorf("bus: publishing %s: %w", subject, err)
	}
	return nil
}

// Close stops delivery, waits for running handlers (up to ctx's deadline, then
// cancels their context), and closes the connection without unsubscribing.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	close(c.stop)
	<-c.loopDone
	c.mu.Lock()
	if c.conn != nil {
		c.conn.stopDelivery()
	}
	c.mu.Unlock()

	drained := make(chan struct{})
	go func() { c.handlers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		c.cancelHandler()
		<-drained
	}
	c.cancelHandler()

	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if conn != nil {
		return conn.close()
	}
	return nil
}

func (c *Client) connectLoop() {
	defer close(c.loopDone)
	broker := "NATS Streaming"
	if c.cfg.Transport == TransportJetStream {
		broker = "JetStream"
	}
	for {
		conn, err := c.connect()
		if err != nil {
			c.log.Warn("connecting to "+broker, "url", c.cfg.URL, "err", err)
			select {
			case <-c.stop:
				return
			case <-time.After(c.cfg.ReconnectWait):
				continue
			}
		}
		c.log.Info("connected to "+broker, "url", c.cfg.URL, "client_id", c.cfg.ClientID)
		select {
		case <-c.stop:
			return
		case <-c.lost:
			c.mu.Lock()
			c.conn = nil
			c.mu.Unlock()
			conn.drop()
			c.log.Warn("lost the connection to " + broker + "; reconnecting")
		}
	}
}

// connectionLost tells connectLoop to start over on a fresh connection.
func (c *Client) connectionLost() {
	select {
	case c.lost <- struct{}{}:
	default:
	}
}

func (c *Client) connect() (conn, error) {
	// Drop a stale loss signal from an earlier connection.
	select {
	case <-c.lost:
	default:
	}
	var (
		cn  conn
		err error
	)
	if c.cfg.Transport == TransportJetStream {
		cn, err = c.dialJetStream()
	} else {
		cn, err = c.dialStan()
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if err := cn.subscribe(s); err != nil {
			_ = cn.close()
			return nil, fmt.Errorf("subscribing to %s: %w", s.Subject, err)
		}
	}
	c.conn = cn
	return cn, nil
}
