package bus

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"ticketing.dev/common/events"
)

// Who may publish what on the broker (DESIGN.md §4 and §9).
//
// NATS Streaming runs over a NATS server, whose users and permissions are the
// only access control it has. A stan client speaks to the streaming server on
// fixed subjects that carry the cluster id (server.go of nats-streaming-server):
// it publishes its connect request on _STAN.discover.<cluster>, pings on
// _STAN.discover.<cluster>.pings, subscription requests on
// _STAN.sub.<cluster> (and .subclose, .close), every message on
// _STAN.pub.<cluster>.<channel>, and its acks and heartbeat answers on
// _INBOX.* subjects the server names; the server answers on the client's
// _INBOX.* and _STAN.acks.* subjects. A user allowed only its own channels
// under _STAN.pub therefore can do everything a service does and cannot put a
// message on anyone else's channel: the broker refuses the publish (a
// permissions violation, and the publish times out unacknowledged).
//
// What NATS permissions cannot restrict: which channels a client reads (a
// subscription is a request to the streaming server, which delivers to the
// client's inbox), and a client's requests about other clients (closing a
// connection by client id, acking on an inbox it learnt). Those are denial
// of service at worst, from a holder of valid credentials; what a forged
// event would do — complete an unpaid order — is what the table below shuts.

// Service is one broker user that is a service: its name (also its user
// name), the channels it owns, and the queue group it consumes with, whose
// parked channel it writes too.
type Service struct {
	Name      string
	Publishes []events.Subject
	// Queue is the service's queue group ("" for a service that consumes
	// nothing); the listeners package of each service names the same.
	Queue string
}

// Services is DESIGN.md §4's table, by publisher.
var Services = []Service{
	{Name: "auth", Publishes: []events.Subject{events.SubjectUserCreated, events.SubjectSessionRevoked}},
	{Name: "tickets", Publishes: []events.Subject{events.SubjectTicketCreated, events.SubjectTicketUpdated}, Queue: "tickets-service"},
	{Name: "orders", Publishes: []events.Subject{events.SubjectOrderCreated, events.SubjectOrderCancelled, events.SubjectOrderCompleted}, Queue: "orders-service"},
	{Name: "expiration", Publishes: []events.Subject{events.SubjectExpirationComplete}, Queue: "expiration-service"},
	{Name: "payments", Publishes: []events.Subject{events.SubjectPaymentCreated}, Queue: "payments-service"},
}

// Broker users that are not services.
const (
	// ServerUser is the streaming server's own connection to its embedded
	// NATS server: it needs every subject.
	ServerUser = "stan"
	// RedriveUser puts parked events back on their original channels, any
	// of them: an operator's credentials, never mounted into a service.
	RedriveUser = "redrive"
	// ObserverUser is for tests and benchmarks that watch the system from
	// outside or play a service (infra/systemtest, infra/loadbench): it may
	// publish on every channel. Never given to a deployment.
	ObserverUser = "observer"
)

// Users are every broker user a deployment has, services first.
func Users() []string {
	names := make([]string, 0, len(Services)+3)
	for _, s := range Services {
		names = append(names, s.Name)
	}
	return append(names, RedriveUser, ObserverUser, ServerUser)
}

// Permissions are what one user may publish and subscribe to, as NATS
// subjects.
type Permissions struct {
	Publish, Subscribe []string
	// DenyPublish is refused even where Publish would allow it (JetStream).
	DenyPublish []string
}

// UserPermissions returns the permissions of user on cluster: a service's
// own channels and its parked channel; every channel for the redrive and
// observer users. ok is false for the server user (it has no limits) and
// for a name that is no user.
func UserPermissions(cluster, user string) (p Permissions, ok bool) {
	pub := "_STAN.pub." + cluster + "."
	channels, ok := publishes(user)
	if !ok {
		return Permissions{}, false
	}
	p.Publish = []string{
		"_STAN.discover." + cluster,
		"_STAN.discover." + cluster + ".pings",
		"_STAN.sub." + cluster,
		"_STAN.subclose." + cluster,
		// Not _STAN.unsub: unsubscribing a durable queue group deletes its
		// position, and no client of ours ever does (the package doc).
		"_STAN.close." + cluster,
		"_INBOX.>",
	}
	for _, ch := range channels {
		p.Publish = append(p.Publish, pub+ch)
	}
	p.Subscribe = []string{"_INBOX.>", "_STAN.acks.>"}
	return p, true
}

// publishes lists the channels user may publish on: a service's own and its
// parked channel; every one (">") for the redrive and observer users. ok is
// false for a name that is no such user.
func publishes(user string) (channels []string, ok bool) {
	switch user {
	case RedriveUser, ObserverUser:
		return []string{">"}, true
	}
	i := slices.IndexFunc(Services, func(s Service) bool { return s.Name == user })
	if i < 0 {
		return nil, false
	}
	for _, subj := range Services[i].Publishes {
		channels = append(channels, string(subj))
	}
	if q := Services[i].Queue; q != "" {
		channels = append(channels, ParkedChannel(q))
	}
	return channels, true
}

// Credential is one user's name and password.
type Credential struct {
	User, Password string
}

// ServerConfig renders the NATS configuration file that gives the broker its
// users: cluster's users with their permissions, and the streaming server's
// own credentials (which must be among them, under ServerUser). A password
// that starts with $ is left as a variable reference, which the NATS server
// reads from its environment (Kubernetes puts Secrets there).
func ServerConfig(cluster string, creds []Credential) (string, error) {
	return serverConfig(cluster, creds, "")
}

// ClusteredServerConfig is ServerConfig for a node of a clustered NATS
// Streaming broker (-clustered): the same users, and Raft timings tighter
// than the server's own defaults (2 s to notice a lost leader, 2 s to elect
// the next, each drawn from up to twice that), which left the cluster
// refusing publishes for 6 to 11 s after its leader died during a flash sale
// here. These are the Raft library's own defaults, made for one network's
// round trips of milliseconds, as between the pods of one cluster. A node
// that alone reads this file runs clustered: a single server takes
// ServerConfig.
func ClusteredServerConfig(cluster string, creds []Credential) (string, error) {
	return serverConfig(cluster, creds, raftTimings)
}

// raftTimings go inside the streaming block of a clustered node.
const raftTimings = `  cluster {
    raft_heartbeat_timeout: "1s"
    raft_election_timeout: "1s"
    raft_lease_timeout: "500ms"
  }
`

func serverConfig(cluster string, creds []Credential, streamingExtra string) (string, error) {
	var b strings.Builder
	var server *Credential
	fmt.Fprintf(&b, "# The broker's users, generated by ServerConfig in common/bus/access.go: do not edit.\n")
	fmt.Fprintf(&b, "authorization {\n  users = [\n")
	for i, c := range creds {
		if c.User == "" || c.Password == "" {
			return "", fmt.Errorf("bus: broker user %q needs a name and a password", c.User)
		}
		fmt.Fprintf(&b, "    { user: %s, password: %s", strconv.Quote(c.User), confValue(c.Password))
		if c.User == ServerUser {
			server = &creds[i]
			b.WriteString(" }\n")
			continue
		}
		p, ok := UserPermissions(cluster, c.User)
		if !ok {
			return "", fmt.Errorf("bus: %q is not a broker user (%s)", c.User, strings.Join(Users(), ", "))
		}
		fmt.Fprintf(&b, ", permissions: { publish: { allow: %s }, subscribe: { allow: %s } } }\n", confList(p.Publish), confList(p.Subscribe))
	}
	b.WriteString("  ]\n}\n")
	if server == nil {
		return "", fmt.Errorf("bus: the broker's own user %q is missing", ServerUser)
	}
	fmt.Fprintf(&b, "streaming {\n  cluster_id: %s\n  username: %s\n  password: %s\n%s}\n",
		strconv.Quote(cluster), strconv.Quote(server.User), confValue(server.Password), streamingExtra)
	return b.String(), nil
}

func confValue(v string) string {
	if strings.HasPrefix(v, "$") {
		return v
	}
	return strconv.Quote(v)
}

func confList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
