package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"ticketing.dev/infra/runner/launch"
)

// Port offsets from BASE_PORT. Only the gateway's port is meant for people.
const (
	offFerretDB    = 0
	offNATS        = 1
	offNATSMonitor = 2
	offRedis       = 3
	offStripeHTTP  = 4
	offPostgres    = 5
	offAuth        = 10
	offTickets     = 11
	offOrders      = 12
	offExpiration  = 13
	offPayments    = 14
	offClient      = 20
)

// portUse names what a port is for, for the "port busy" message.
type portUse struct {
	Port int
	What string
	Env  string
}

func (c config) ports(withStandIn, withClient bool) []portUse {
	b := c.BasePort
	uses := []portUse{
		{c.GatewayPort, "the gateway", "GATEWAY_PORT"},
		{b + offFerretDB, "FerretDB", "BASE_PORT"},
		{b + offNATS, c.brokerName(), "BASE_PORT"},
		{b + offNATSMonitor, "the broker's monitoring", "BASE_PORT"},
		{b + offRedis, "Redis", "BASE_PORT"},
		{b + offAuth, "auth", "BASE_PORT"},
		{b + offTickets, "tickets", "BASE_PORT"},
		{b + offOrders, "orders", "BASE_PORT"},
		{b + offExpiration, "expiration", "BASE_PORT"},
		{b + offPayments, "payments", "BASE_PORT"},
	}
	if c.onPostgres() {
		uses = append(uses, portUse{b + offPostgres, "PostgreSQL (FerretDB's backend)", "BASE_PORT"})
	}
	if withStandIn {
		uses = append(uses, portUse{b + offStripeHTTP, "the Stripe stand-in", "BASE_PORT"})
	}
	if withClient {
		uses = append(uses, portUse{b + offClient, "the web client", "BASE_PORT"})
	}
	return uses
}

// checkPorts fails with a clear message if any port is taken, before anything starts.
func checkPorts(host string, uses []portUse) error {
	var errs []error
	for _, u := range uses {
		h := "127.0.0.1"
		if u.Env == "GATEWAY_PORT" {
			h = host
		}
		l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(u.Port)))
		if err != nil {
			errs = append(errs, fmt.Errorf("port %d (%s) is busy: stop what uses it, or choose another with %s", u.Port, u.What, u.Env))
			continue
		}
		l.Close()
	}
	return errors.Join(errs...)
}

// lockDataDir keeps two runners off one data folder.
func lockDataDir(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "runner.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another runner is using %s", dir)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// system is what one run starts, decided from the config before anything
// starts.
type system struct {
	cfg            config
	bin, clientDir string
	// The Stripe stand-in serves unless a real key or another Stripe (a
	// test's) is named.
	withStandIn bool
	// stripeWebhookSecret is payments' STRIPE_WEBHOOK_SECRET.
	stripeWebhookSecret string
	withClient          bool
	jwtKey              string
	creds               launch.Credentials
	// natsConf and redisConf are the broker's and Redis's configuration
	// files, written into the data folder's run/ at each start: they hold
	// the passwords, which stay off command lines.
	natsConf, redisConf string
	// postgresBin is PostgreSQL's server, and postgresAs who runs it (nil:
	// the runner's user), with FERRETDB_BACKEND=postgresql.
	postgresBin string
	postgresAs  *syscall.Credential
}

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	sys := system{cfg: cfg, bin: filepath.Join(cfg.Root, "bin"), clientDir: filepath.Join(cfg.Root, "client")}
	sys.withStandIn = cfg.StripeKey == "" && cfg.StripeAPIBase == ""
	sys.withClient = !cfg.NoClient && exists(filepath.Join(sys.clientDir, ".next", "BUILD_ID"))
	release, err := sys.prepare()
	if err != nil {
		return err
	}
	defer release()

	out := newLogMux(stdout, sys.cfg.brokerName(), "expiration")
	sup := newSupervisor(out, filepath.Join(cfg.DataDir, "run"), cfg.ReadyTimeout)
	defer func() {
		out.say("stopping everything")
		sup.stopAll()
		out.say("stopped")
	}()

	groups := [][]spec{sys.infra(), sys.services()}
	routes := []route{
		{"auth", "/api/users", cfg.BasePort + offAuth}, {"tickets", "/api/tickets", cfg.BasePort + offTickets},
		{"orders", "/api/orders", cfg.BasePort + offOrders}, {"payments", "/api/payments", cfg.BasePort + offPayments},
	}
	if sys.withClient {
		groups = append(groups, []spec{sys.client()})
		routes = append(routes, route{"client", "/", cfg.BasePort + offClient})
	} else {
		out.say("the web client is not built (or NO_CLIENT is set): serving the API alone")
	}
	out.say("data folder: %s (delete it to start afresh)", cfg.DataDir)
	if sys.withStandIn {
		if err := sys.startStandIn(ctx, out); err != nil {
			return unlessStopped(ctx, err)
		}
	}
	if err := sys.startInOrder(ctx, sup, out, groups); err != nil {
		return unlessStopped(ctx, err)
	}
	if err := sys.startGateway(ctx, sup, routes); err != nil {
		return unlessStopped(ctx, err)
	}
	gatewayURL := fmt.Sprintf("http://%s", net.JoinHostPort(displayHost(cfg.Host), strconv.Itoa(cfg.GatewayPort)))
	fmt.Fprintf(stdout, "\n  Ticketing is running: %s\n%s  (Ctrl-C stops everything)\n\n", gatewayURL,
		metricsBanner(sys.services())+tracesBanner()+sys.busBanner())

	select {
	case <-ctx.Done():
		return nil
	case err := <-sup.failed:
		return err
	}
}

// unlessStopped is a start-up error, or nil when Ctrl-C came meanwhile: a
// stop while the system starts is a clean stop. (nginx may already serve, and
// a client already use it, while the runner still waits to see it ready.)
func unlessStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// prepare checks everything that would stop the run half-way — the data
// folder, its lock, the ports, the programs, the JWT key — before anything
// starts; release unlocks the data folder.
func (sys *system) prepare() (release func(), err error) {
	cfg := sys.cfg
	for _, dir := range []string{"ferretdb", "nats", "jetstream", "redis", "run"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, dir), 0o755); err != nil {
			return nil, err
		}
	}
	if release, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	fail := func(err error) (func(), error) { release(); return nil, err }
	if err := checkPorts(cfg.Host, cfg.ports(sys.withStandIn, sys.withClient)); err != nil {
		return fail(err)
	}
	for _, name := range []string{"ferretdb", sys.brokerBinary(), "redis-server", "auth", "tickets", "orders", "expiration", "payments", "nginx"} {
		if _, err := lookBinary(sys.bin, name); err != nil {
			return fail(err)
		}
	}
	if sys.jwtKey, err = cfg.jwtKey(); err != nil {
		return fail(err)
	}
	if sys.stripeWebhookSecret, err = sys.webhookSecret(); err != nil {
		return fail(err)
	}
	if err := sys.writeStoreConfigs(); err != nil {
		return fail(err)
	}
	if cfg.onPostgres() {
		if err := sys.preparePostgres(context.Background()); err != nil {
			return fail(fmt.Errorf("PostgreSQL: %w", err))
		}
	}
	return release, nil
}

// writeStoreConfigs gives the broker one user per service and tool, each
// allowed to publish only what it owns (common/bus), and Redis a password.
func (sys *system) writeStoreConfigs() error {
	var err error
	if sys.creds, err = sys.cfg.credentials(); err != nil {
		return err
	}
	conf, err := sys.brokerConfig()
	if err != nil {
		return err
	}
	run := filepath.Join(sys.cfg.DataDir, "run")
	sys.natsConf, sys.redisConf = filepath.Join(run, "nats.conf"), filepath.Join(run, "redis.conf")
	if err := writePrivate(sys.natsConf, []byte(conf)); err != nil {
		return fmt.Errorf("writing the broker's configuration: %w", err)
	}
	if err := writePrivate(sys.redisConf, []byte(fmt.Sprintf("requirepass %q\n", sys.creds.Redis))); err != nil {
		return fmt.Errorf("writing Redis's configuration: %w", err)
	}
	if err := writePrivate(filepath.Join(run, RedriveEnvFile), []byte(strings.Join(sys.redriveEnv(), "\n")+"\n")); err != nil {
		return fmt.Errorf("writing redrive's settings: %w", err)
	}
	return nil
}

// local is the loopback address of the port at off from BASE_PORT.
func (sys *system) local(off int) string { return "127.0.0.1:" + strconv.Itoa(sys.cfg.BasePort+off) }

// infra are the servers the services depend on.
func (sys *system) infra() []spec {
	cfg, b := sys.cfg, sys.cfg.BasePort
	var infra []spec
	ferret := spec{Name: "ferretdb", Port: b + offFerretDB, Args: []string{"-listen-addr", sys.local(offFerretDB), "-data-dir", filepath.Join(cfg.DataDir, "ferretdb")}}
	if cfg.onPostgres() {
		infra = append(infra, sys.postgresSpec())
		ferret.Args = append(ferret.Args, "-handler", backendPostgreSQL)
		// The URL holds the password: in the environment, off the command line.
		ferret.Env = []string{"FERRETDB_POSTGRESQL_URL=" + sys.postgresURL()}
	}
	infra = append(infra,
		ferret,
		sys.broker(),
		spec{Name: "redis", Path: "redis-server", Port: b + offRedis, Args: []string{sys.redisConf,
			"--bind", "127.0.0.1", "--port", strconv.Itoa(b + offRedis), "--dir", filepath.Join(cfg.DataDir, "redis"),
			"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""}})
	return infra
}

// services are the five Go services, each with its own database and the
// environment every service shares.
func (sys *system) services() []spec {
	cfg, b := sys.cfg, sys.cfg.BasePort
	mongo := func(db string) string { return fmt.Sprintf("mongodb://%s/%s", sys.local(offFerretDB), db) }
	stripeKey, stripeBase := cfg.StripeKey, cfg.StripeAPIBase
	if sys.withStandIn {
		stripeBase = "http://" + sys.local(offStripeHTTP)
	}
	if stripeKey == "" {
		// The stand-in (and stripe-mock) take any key shaped like a test
		// key; this one is not a secret.
		stripeKey = "sk_test_localstandin"
	}
	common := []string{"EVENT_BUS=" + cfg.EventBus, "NATS_URL=nats://" + sys.local(offNATS), "NATS_CLUSTER_ID=ticketing", "COOKIE_SECURE=false", "JWT_KEY=" + sys.jwtKey,
		"PUBLIC_ORIGINS=" + cfg.publicOrigins()}
	service := func(name string, off int, env ...string) spec {
		own := append([]string{"HOST=127.0.0.1", "PORT=" + strconv.Itoa(b+off), "NATS_CLIENT_ID=" + name + "-local",
			"NATS_USER=" + name, "NATS_PASSWORD=" + sys.creds.NATS[name]}, cfg.serviceEnv(name)...)
		return spec{Name: name, Port: b + off, ReadyPath: "/readyz", Env: append(append(own, common...), env...)}
	}
	// The gateway appends X-Forwarded-For, as the ingress does: the rate
	// limits of auth, orders and payments count per client address.
	ordersEnv := []string{"MONGO_URI=" + mongo("orders"), "TRUST_PROXY=true"}
	if cfg.ExpirationWindow != "" {
		ordersEnv = append(ordersEnv, "ORDER_EXPIRATION_WINDOW="+cfg.ExpirationWindow)
	}
	return []spec{
		service("auth", offAuth, "MONGO_URI="+mongo("auth"), "TRUST_PROXY=true"),
		service("tickets", offTickets, "MONGO_URI="+mongo("tickets")),
		service("orders", offOrders, ordersEnv...),
		service("expiration", offExpiration, "REDIS_URL=redis://:"+sys.creds.Redis+"@"+sys.local(offRedis)+"/0"),
		service("payments", offPayments, "MONGO_URI="+mongo("payments"), "STRIPE_KEY="+stripeKey, "STRIPE_API_BASE="+stripeBase,
			"STRIPE_WEBHOOK_SECRET="+sys.stripeWebhookSecret, "TRUST_PROXY=true"),
	}
}

// client is the built web client, served by npm.
func (sys *system) client() spec {
	cfg, b := sys.cfg, sys.cfg.BasePort
	return spec{Name: "client", Path: "npm", Args: []string{"run", "start"}, Dir: sys.clientDir,
		Port: b + offClient, ReadyPath: "/healthz",
		Env: []string{"PORT=" + strconv.Itoa(b+offClient), "HOSTNAME=127.0.0.1", "NEXT_TELEMETRY_DISABLED=1",
			// Server-side rendering calls the API through the gateway, by
			// IPv4 loopback: Node may resolve "localhost" to ::1 first.
			"API_BASE_URL=" + fmt.Sprintf("http://127.0.0.1:%d", cfg.GatewayPort), "STRIPE_PUBLISHABLE_KEY=" + cfg.StripePublishKey}}
}

// startInOrder starts group after group, each server ready before the next
// starts, so a service never starts before what it connects to.
func (sys *system) startInOrder(ctx context.Context, sup *supervisor, out *logMux, groups [][]spec) error {
	for _, group := range groups {
		for _, sp := range group {
			if sp.Path == "" {
				sp.Path = sp.Name
			}
			if sp.Path != "npm" {
				var err error
				if sp.Path, err = lookBinary(sys.bin, sp.Path); err != nil {
					return err
				}
			}
			if err := sup.start(ctx, sp); err != nil {
				return err
			}
			out.say("%s is ready on port %d", sp.Name, sp.Port)
		}
	}
	return nil
}

// startGateway starts nginx in front of everything, last, so its port answers
// only once every route leads somewhere.
func (sys *system) startGateway(ctx context.Context, sup *supervisor, routes []route) error {
	nginxPath, err := lookBinary(sys.bin, "nginx")
	if err != nil {
		return err
	}
	gw := newGatewayConfig(sys.cfg.Host, sys.cfg.GatewayPort, filepath.Join(sys.cfg.DataDir, "run", "gateway"), routes)
	if sys.cfg.NoGatewayCache {
		gw = gw.withoutCache()
	}
	conf, err := gw.write()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return sup.start(ctx, gw.spec(nginxPath, conf))
}

// dialHost is where the runner itself reaches a server that listens on h.
func dialHost(h string) string {
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		return "127.0.0.1"
	}
	return h
}

func displayHost(h string) string {
	if h == "0.0.0.0" || h == "" || h == "127.0.0.1" {
		return "localhost"
	}
	return h
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// lookBinary finds a program in bin/ first, then on PATH, then where Debian
// puts servers (nginx is in /usr/sbin, off an ordinary user's PATH).
func lookBinary(bin, name string) (string, error) {
	p := filepath.Join(bin, name)
	if exists(p) {
		return p, nil
	}
	if p, err := execLookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s, PATH or /usr/sbin: run `make run` (it installs and builds everything), or `make deps build tools`", name, bin)
}

// tracesBanner tells where the services' spans go: to the OTLP endpoint
// the runner's environment names (the services inherit it), or nowhere.
func tracesBanner() string {
	if endpoint := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint != "" {
		return "  Traces (OTLP/gRPC) go to " + endpoint + "\n"
	}
	return "  Traces are off (set OTEL_EXPORTER_OTLP_ENDPOINT: docs/observability.md)\n"
}

// metricsBanner tells where each service serves its metrics: on its own
// port, which only this machine reaches, never through the gateway
// (docs/observability.md). METRICS=off, they serve none.
func metricsBanner(services []spec) string {
	if os.Getenv("METRICS") == "off" {
		return "  Metrics are off (METRICS=off)\n"
	}
	var b strings.Builder
	b.WriteString("  Metrics (Prometheus text, not through the gateway):\n")
	for _, sp := range services {
		fmt.Fprintf(&b, "    %-10s http://127.0.0.1:%d/metrics\n", sp.Name, sp.Port)
	}
	return b.String()
}
